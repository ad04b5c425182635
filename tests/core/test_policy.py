"""The policy gate: which tools exist, which resources a call may touch, which scopes it needs."""

from __future__ import annotations

import pytest

from tests.core.example_server import ExampleSettings, build_server
from warden_core.errors import PolicyDenied
from warden_core.policy import Allowlist
from warden_core.settings import SettingsError
from warden_core.specs import Access


def exposed(**settings: object) -> set[str]:
    return {spec.name for spec in build_server(ExampleSettings.load(**settings)).exposed}


def test_read_only_by_default() -> None:
    names = exposed(write_shelves=("main",))
    assert "ex_add_item" not in names and "ex_clear_shelf" not in names
    assert {"ex_echo", "ex_list_items"} <= names


def test_writes_need_read_only_off_and_a_write_allowlist() -> None:
    assert "ex_add_item" not in exposed(read_only=False)  # empty write allowlist hides write tools
    assert "ex_add_item" in exposed(read_only=False, write_shelves=("main",))
    assert "ex_clear_shelf" not in exposed(read_only=False, write_shelves=("main",))
    assert "ex_clear_shelf" in exposed(read_only=False, allow_destructive=True, write_shelves=("main",))


def test_groups_and_tool_lists() -> None:
    assert exposed(groups=("basic",)) == {"ex_echo", "ex_slow", "ex_noisy", "ex_fail"}
    assert exposed(tools=("ex_echo", "ex_slow")) == {"ex_echo", "ex_slow"}
    assert "ex_echo" not in exposed(exclude_tools=("ex_echo",))
    # exclude wins over an explicit allow
    assert exposed(tools=("ex_echo",), exclude_tools=("ex_echo",)) == set()


@pytest.mark.parametrize(
    ("setting", "value"),
    [("groups", ("nope",)), ("tools", ("ex_nope",)), ("exclude_tools", ("ex_nope",))],
)
def test_unknown_names_stop_the_start(setting: str, value: tuple[str, ...]) -> None:
    with pytest.raises(SettingsError, match=f"WARDEN_EXAMPLE_{setting.upper()}.*unknown"):
        build_server(ExampleSettings.load(**{setting: value}))


def test_destructive_needs_writes_enabled() -> None:
    with pytest.raises(SettingsError, match="ALLOW_DESTRUCTIVE"):
        build_server(ExampleSettings.load(allow_destructive=True))


def test_allowlist_globs() -> None:
    repos = Allowlist("WARDEN_X_REPOS", ("acme/*", "other/one"), case_sensitive=False)
    assert repos.allows("acme/api") and repos.allows("ACME/Web") and repos.allows("other/one")
    assert not repos.allows("other/two") and not repos.allows("acme") and not repos.allows("evil/acme/x")
    assert not Allowlist("S", ()).allows("anything")
    assert Allowlist("S", ("*",)).allows("anything")
    with pytest.raises(PolicyDenied, match=r"'evil/x' is not allowed .*WARDEN_X_REPOS"):
        repos.require("evil/x", "repo")


def test_guard_checks_resource_arguments_including_lists() -> None:
    server = build_server(ExampleSettings.load(shelves=("main", "b*")))
    spec = server.exposed_spec("ex_list_items")
    assert spec is not None
    server.policy.guard(spec, {"shelf": "main"})
    server.policy.guard(spec, {"shelf": "books"})
    with pytest.raises(PolicyDenied):
        server.policy.guard(spec, {"shelf": "other"})


def test_scope_hierarchy() -> None:
    server = build_server(ExampleSettings.load(read_only=False, allow_destructive=True, write_shelves=("main",)))
    policy = server.policy
    read = server.exposed_spec("ex_list_items")
    write = server.exposed_spec("ex_add_item")
    destroy = server.exposed_spec("ex_clear_shelf")
    assert read and write and destroy
    assert read.access is Access.READ and write.access is Access.WRITE
    assert policy.scope_satisfied({"store:read"}, read)
    assert not policy.scope_satisfied({"store:read"}, write)
    assert policy.scope_satisfied({"store:write"}, read)  # write implies read in the same group
    assert not policy.scope_satisfied({"basic:destructive"}, read)  # other group
    assert policy.scope_satisfied({"*:write"}, write) and not policy.scope_satisfied({"*:write"}, destroy)
    assert not policy.scope_satisfied({"store:admin", "garbage"}, read)
    assert policy.scopes_supported(server.specs) == [
        "basic:read",
        "store:destructive",
        "store:read",
        "store:write",
    ]


def test_selector_allowlists_do_not_hide_writes() -> None:
    from warden_core.policy import Policy
    from warden_core.specs import ToolSpec

    async def handler() -> None:
        return None

    write = ToolSpec(
        name="ex_write",
        title="Write",
        description="A write aimed at a target, in a context.",
        group="store",
        access=Access.WRITE,
        handler=handler,
        resource_args={"shelf": "targets", "context": "contexts"},
    )
    settings = ExampleSettings.load(read_only=False)

    def policy(targets: tuple[str, ...]) -> Policy:
        return Policy.from_settings(
            settings,
            [write],
            default_groups=["store"],
            allowlists={
                "targets": Allowlist("T", targets),
                "contexts": Allowlist("C", (), gates_writes=False),  # empty, and it must not hide the tool
            },
        )

    assert policy(("main",)).exposes(write)
    assert policy(()).hidden_because(write) == "write allowlist T is empty"
    with pytest.raises(PolicyDenied, match="context 'prod'"):
        policy(("main",)).guard(write, {"shelf": "main", "context": "prod"})


def test_an_argument_may_need_several_allowlists() -> None:
    from warden_core.policy import Policy
    from warden_core.specs import ToolSpec

    async def handler() -> None:
        return None

    write = ToolSpec(
        name="ex_publish",
        title="Publish",
        description="A write whose target must also be readable.",
        group="store",
        access=Access.WRITE,
        handler=handler,
        resource_args={"shelf": ("shelves", "write_shelves")},
    )
    policy = Policy.from_settings(
        ExampleSettings.load(read_only=False),
        [write],
        default_groups=["store"],
        allowlists={"shelves": Allowlist("R", ("main",)), "write_shelves": Allowlist("W", ("main", "drafts"))},
    )
    policy.guard(write, {"shelf": "main"})
    with pytest.raises(PolicyDenied, match=r"'drafts' is not allowed .*\(R\)"):
        policy.guard(write, {"shelf": "drafts"})
