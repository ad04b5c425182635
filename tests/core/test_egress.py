"""The egress filter: applied by the core to every answer, in both protocol eras, and it says so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import PromptReference

from tests.core.example_server import ExampleSettings, build_server
from warden_core.caps import json_size
from warden_core.confirm import ask
from warden_core.detector import Detector
from warden_core.egress import META_KEY, Egress, LineMasker

pytestmark = pytest.mark.anyio

GHS = "ghs_" + "Zq7" * 12
PEM_LINES = [
    "-----BEGIN PRIVATE KEY-----",
    *["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "Wx" * 16] * 4,
    "-----END PRIVATE KEY-----",
]


def server_with(items: list[str]) -> Any:
    server = build_server(ExampleSettings.load(token="example-canary-token-31"))
    server.runtime.shelves["main"] = items
    return server


@pytest.mark.parametrize("mode", ["modern", "legacy"])
async def test_a_tool_result_is_masked_and_says_what_was_masked(mode: str) -> None:
    server = server_with([])
    async with Client(server.mcp, **({"mode": "legacy"} if mode == "legacy" else {})) as client:
        result = await client.call_tool(
            "ex_echo", {"text": f"deploy {GHS} with password=hunter22 example-canary-token-31"}
        )
    wire = json.dumps(result.model_dump(mode="json"))
    assert GHS not in wire and "hunter22" not in wire and "example-canary-token-31" not in wire
    # structuredContent stays valid for the output schema (the client validated it), and the text copy matches it
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    assert result.meta is not None
    assert result.meta[META_KEY] == {"count": 3, "kinds": {"github-token": 1, "password": 1, "server-credential": 1}}
    notice = result.content[-1].text  # type: ignore[union-attr]
    assert "3 secret values" in notice and "github-token x1" in notice and "do not retry" in notice


async def test_a_result_without_secrets_is_untouched() -> None:
    server = server_with([])
    async with Client(server.mcp) as client:
        result = await client.call_tool("ex_echo", {"text": "commit 5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"})
    assert result.structured_content == {"text": "commit 5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c", "length": 47}
    assert len(result.content) == 1 and META_KEY not in (result.meta or {})


async def test_a_private_key_over_several_items_is_masked_as_one() -> None:
    server = server_with(["before", *PEM_LINES, "after"])
    async with Client(server.mcp) as client:
        result = await client.call_tool("ex_list_items", {"shelf": "main"})
    items = result.structured_content["items"]  # type: ignore[index]
    assert items[0] == "before" and items[-1] == "after" and len(items) == len(PEM_LINES) + 2
    assert not any("MIIE" in item for item in items)
    assert result.meta is not None and result.meta[META_KEY]["kinds"] == {"private-key": 1}


@pytest.mark.parametrize("mode", ["modern", "legacy"])
async def test_resources_prompts_and_completions_are_masked(mode: str) -> None:
    server = server_with([f"token={GHS}", "plain item"])
    async with Client(server.mcp, **({"mode": "legacy"} if mode == "legacy" else {})) as client:
        resource = await client.read_resource("example://shelves/main")
        prompt = await client.get_prompt("shelf_report", {"shelf": "main"})
        completion = await client.complete(
            PromptReference(type="ref/prompt", name="shelf_report"), {"name": "shelf", "value": ""}
        )
    for answer in (resource, prompt, completion):
        wire = json.dumps(answer.model_dump(mode="json"))
        assert GHS not in wire and "plain item" in wire
        assert answer.meta is not None and answer.meta[META_KEY]["count"] == 1


async def test_error_texts_are_masked() -> None:
    server = server_with([])
    async with Client(server.mcp) as client:
        result = await client.call_tool("ex_fail", {"message": f"backend rejected {GHS}"})
    assert result.is_error and GHS not in json.dumps(result.model_dump(mode="json"))


def test_a_confirmation_question_is_masked() -> None:
    assert GHS not in ask(f"Post this comment?\n\n> my token is {GHS}").message


def test_secret_named_entries_and_name_value_lists_are_masked_whole() -> None:
    value = {
        "DB_PASS": "plain-looking",
        "config": {"clientSecret": "x", "secretName": "web-tls", "empty_password": ""},
        "env": [{"name": "API_TOKEN", "value": "also-plain"}, {"name": "REGION", "value": "eu-west-1"}],
        "Tags": [{"Key": "db_password", "Value": "tagged-9"}, {"Key": "team", "Value": "data"}],
        "rows": [["alice", "5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"]],
    }
    Egress().value(value)
    assert value["DB_PASS"] == "[masked]" and value["config"] == {
        "clientSecret": "*",
        "secretName": "web-tls",
        "empty_password": "",
    }
    assert value["env"] == [{"name": "API_TOKEN", "value": "[masked]"}, {"name": "REGION", "value": "eu-west-1"}]
    assert value["Tags"][0]["Value"] == "[masked]" and value["Tags"][1]["Value"] == "data"
    assert value["rows"] == [["alice", "5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"]]


def test_a_stream_of_lines_is_masked_across_lines_and_keeps_its_line_count() -> None:
    masker = LineMasker(Detector())
    lines = ["boot", "loading key:", *PEM_LINES, "listening on :8080"] * 3
    out = [line for raw in lines for line in masker.feed(raw)] + masker.close()
    assert len(out) == len(lines)
    assert [line for line in out if "MIIE" in line or "BEGIN" in line] == []
    assert out[:2] == ["boot", "loading key:"] and out[-1] == "listening on :8080"
    assert masker.counts == {"private-key": 3}


def test_a_stream_that_starts_inside_a_key_is_masked_back_to_its_first_base64_line() -> None:
    masker = LineMasker(Detector())
    lines = [*PEM_LINES[2:], "ready"]  # the API's tailLines cut the BEGIN line off
    out = [line for raw in lines for line in masker.feed(raw)] + masker.close()
    assert out[-1] == "ready" and not any("MIIE" in line for line in out)


# --- Properties. ----------------------------------------------------------------------------------------
SECRETS = st.sampled_from(
    [
        GHS,
        "AKIAIOSFODNN7EXAMPLE",
        "password=hunter2",
        "pwd=x1",
        "token: ab",
        "https://u:p@h.example/x",
        "\n".join(PEM_LINES),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "Authorization: Bearer abc123def456ghi789",
    ]
)
BENIGN = st.sampled_from(
    [
        "commit 5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
        "id 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "SELECT name, price FROM products WHERE id = 42",
        "status: Running, restarts: 3",
        "see https://example.com/docs?page=2",
        "max_tokens: 500",
        "secretName: web-tls",
        "",
        " ",
        "\n",
        "ünïcödé テキスト",
    ]
)
WORDS = st.text(alphabet="abcdefghij klmn0123456789-_.:/,", max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SECRETS, BENIGN, WORDS), max_size=12))
def test_masking_never_grows_and_is_idempotent(parts: list[str]) -> None:
    text = " ".join(parts)
    once, _ = Detector().mask(text)
    assert len(once.encode()) <= len(text.encode())
    assert Detector().mask(once) == (once, {})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(BENIGN, st.text(alphabet="abcdefghij klmn0123456789_.,", max_size=30)), max_size=12))
def test_text_without_secrets_is_byte_identical(parts: list[str]) -> None:
    text = " ".join(parts)
    assert Detector().mask(text) == (text, {})


JSON_VALUES = st.recursive(
    st.one_of(SECRETS, BENIGN, WORDS, st.integers(), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.sampled_from(["name", "value", "password", "Key", "items", "note", "token"]), children, max_size=5
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_a_masked_structure_never_grows_past_its_size(value: Any) -> None:
    before = json_size(value)
    masked = Egress().value(json.loads(json.dumps(value)))
    assert json_size(masked) <= before
    again = json.loads(json.dumps(masked))
    assert Egress().value(again) == masked
