"""Files and canvases: listed and read only through allowed channels, content fetched only after the check, from
Slack's own file host, and nothing that opens a file without Slack's login ever leaves the server."""

from __future__ import annotations

import json

import pytest

from tests.slack.conftest import ServerFactory
from tests.slack.fake_slack import (
    BIG_LOG,
    BOT_TOKEN,
    CANVAS,
    DM_ALICE,
    ENG,
    ENG_CANVAS,
    FINANCE,
    GENERAL,
    LOGO,
    NOTES,
    PAYROLL,
    PUBLIC_LINK_SECRET,
    RUNBOOK,
    FakeSlack,
)
from tests.slack.helpers import call, call_error
from warden_core.testing import call as call_tool
from warden_core.testing import text_of

pytestmark = pytest.mark.anyio


async def test_list_files_of_an_allowed_channel(make_server: ServerFactory, fake_slack: FakeSlack, era: str) -> None:
    result = await call(make_server(), "slack_list_files", {"channel": "#general"}, era)
    assert result["channel"] == {"id": GENERAL, "name": "general"}
    by_id = {item["id"]: item for item in result["files"]}
    assert set(by_id) == {RUNBOOK, CANVAS, LOGO, "F01ELSEWHR"}
    assert by_id[RUNBOOK] == {
        "id": RUNBOOK,
        "name": "deploy-runbook.md",
        "title": "Deploy Runbook",
        "type": "Markdown (raw)",
        "size": by_id[RUNBOOK]["size"],
        "created": by_id[RUNBOOK]["created"],
        "author": "alice",
    }
    assert by_id[CANVAS]["type"] == "Canvas"
    wire = json.dumps(result)
    for leak in (PUBLIC_LINK_SECRET, "files-pri", "url_private", "slack-files.com"):
        assert leak not in wire
    (listed,) = fake_slack.calls("files.list")
    assert listed.params["channel"] == GENERAL


async def test_listing_pages_by_slack_page_and_by_the_output_cap(make_server: ServerFactory) -> None:
    server = make_server(max_output_bytes=1200)
    seen: list[str] = []
    arguments: dict[str, object] = {"channel": GENERAL, "limit": 3}
    for _ in range(10):
        page = await call(server, "slack_list_files", arguments)
        seen += [item["id"] for item in page["files"]]
        if "next_cursor" not in page:
            break
        arguments["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted([RUNBOOK, CANVAS, LOGO, "F01ELSEWHR"]) and len(seen) == 4


async def test_a_text_file_is_read_as_inert_text(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    result = await call(make_server(), "slack_read_file", {"channel": GENERAL, "file": RUNBOOK})
    assert result["text"] == (
        "# Deploy runbook\n\n1. Check <hxxps://status[.]acme[.]test|status>.\n"
        "2. Run `make deploy`; docs at hxxps://wiki[.]acme[.]test/deploy\n"
    )
    assert result["file"]["name"] == "deploy-runbook.md" and "next_cursor" not in result
    (download,) = fake_slack.downloads
    assert download.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert PUBLIC_LINK_SECRET not in json.dumps(result)


async def test_canvases_are_read_through_the_canvas_api(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    shared = await call(make_server(), "slack_read_file", {"channel": "#general", "file": CANVAS})
    assert shared["text"] == "# Q4 plan\n\n- ship v2\n- see hxxps://roadmap[.]acme[.]test\n"
    own = await call(make_server(), "slack_read_file", {"channel": ENG, "file": ENG_CANVAS})
    assert own["text"].startswith("# Backend team"), "a channel's own canvas belongs to the channel"
    assert [c.params["canvas_id"] for c in fake_slack.calls("canvases.getContent")] == [CANVAS, ENG_CANVAS]
    assert fake_slack.downloads == []


async def test_a_file_shared_in_an_allowed_channel_and_a_dm_is_read_without_naming_the_dm(
    make_server: ServerFactory,
) -> None:
    result = await call(make_server(), "slack_read_file", {"channel": ENG, "file": NOTES})
    assert result["text"].startswith("Timeline:") and result["channel"]["id"] == ENG
    assert DM_ALICE not in json.dumps(result)


async def test_a_file_outside_the_allowlist_is_never_fetched(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    server = make_server()
    # The channel it lives in is not allowed: refused before any call about files (the allowlist names a
    # channel, so at most the channel directory is listed to decide).
    text = await call_error(server, "slack_read_file", {"channel": FINANCE, "file": PAYROLL})
    assert "not allowed" in text and "WARDEN_SLACK_CHANNELS" in text
    assert {c.method for c in fake_slack.calls()} <= {"conversations.list"}
    fake_slack.reset_log()
    # Named through an allowed channel it is not shared in: its metadata says so, and nothing is downloaded.
    text = await call_error(server, "slack_read_file", {"channel": GENERAL, "file": PAYROLL})
    assert "not shared in #general" in text
    assert [c.method for c in fake_slack.calls()] == ["files.info"]
    assert fake_slack.downloads == [] and fake_slack.calls("canvases.getContent") == []
    assert "CANARY-FINANCE-FILE-4242" not in text
    listing = await call_error(server, "slack_list_files", {"channel": FINANCE})
    assert "not allowed" in listing


async def test_only_text_is_read(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    text = await call_error(make_server(), "slack_read_file", {"channel": GENERAL, "file": LOGO})
    assert "is not text (PNG)" in text
    assert fake_slack.downloads == []


async def test_downloads_go_only_to_slacks_file_host(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    text = await call_error(make_server(), "slack_read_file", {"channel": GENERAL, "file": "F01ELSEWHR"})
    assert "evil.example" in text and "WARDEN_SLACK_FILE_HOSTS" in text
    assert fake_slack.downloads == []


async def test_a_download_redirect_is_not_followed(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    fake_slack.redirect_downloads = "https://evil.example/collect"
    text = await call_error(make_server(), "slack_read_file", {"channel": GENERAL, "file": RUNBOOK})
    assert "redirected the file download" in text
    assert len(fake_slack.downloads) == 1, "one request to Slack's host; the redirect is not followed"


async def test_long_files_page_within_the_output_cap(make_server: ServerFactory) -> None:
    server = make_server()
    cap = server.settings.max_output_bytes
    arguments: dict[str, object] = {"channel": ENG, "file": BIG_LOG}
    text = ""
    calls = 0
    while calls < 20:
        calls += 1
        result = await call_tool(server, "slack_read_file", arguments)
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data is not None and len(json.dumps(data, separators=(",", ":"), ensure_ascii=False)) <= cap
        text += data["text"]
        if "next_cursor" not in data:
            break
        assert data["truncated"] is True
        arguments["cursor"] = data["next_cursor"]
    assert calls == 4
    assert text == "".join(f'line {i:05d} "quoted"\n' for i in range(5000))


async def test_a_file_larger_than_the_download_limit_is_refused(make_server: ServerFactory) -> None:
    text = await call_error(make_server(max_file_bytes=4096), "slack_read_file", {"channel": ENG, "file": BIG_LOG})
    assert "larger than WARDEN_SLACK_MAX_FILE_BYTES" in text


async def test_message_file_entries_carry_their_ids(make_server: ServerFactory, fake_slack: FakeSlack) -> None:
    fake_slack.workspace.messages[GENERAL][-1]["files"] = [{"id": RUNBOOK, "name": "deploy-runbook.md"}, {"name": "x"}]
    history = await call(make_server(), "slack_channel_history", {"channel": GENERAL})
    files = [m["files"] for m in history["messages"] if "files" in m]
    assert files == [[f"deploy-runbook.md ({RUNBOOK})", "x"]]
