"""Tool specs: annotations come from the access level, never from hand-set hints."""

from __future__ import annotations

import pytest

from warden_core.specs import Access, ToolSpec


async def _noop() -> None:
    return None


def spec(access: Access, **kwargs: object) -> ToolSpec:
    return ToolSpec(
        name="t_tool", title="T", description="A test tool.", group="g", access=access, handler=_noop, **kwargs
    )


def test_read_tools_are_read_only_and_idempotent() -> None:
    hints = spec(Access.READ, open_world=False).annotations
    assert hints.read_only_hint is True
    assert hints.destructive_hint is False
    assert hints.idempotent_hint is True
    assert hints.open_world_hint is False


def test_write_tools_are_not_destructive_unless_declared() -> None:
    write = spec(Access.WRITE).annotations
    assert (write.read_only_hint, write.destructive_hint, write.idempotent_hint) == (False, False, False)
    destructive = spec(Access.DESTRUCTIVE, idempotent=True).annotations
    assert (destructive.read_only_hint, destructive.destructive_hint, destructive.idempotent_hint) == (
        False,
        True,
        True,
    )


def test_scope_is_group_and_access() -> None:
    assert spec(Access.WRITE).scope == "g:write"


def test_access_levels_are_ordered() -> None:
    assert Access.DESTRUCTIVE.covers(Access.WRITE)
    assert Access.WRITE.covers(Access.READ)
    assert not Access.READ.covers(Access.WRITE)


@pytest.mark.parametrize("name", ["Bad", "has-dash", "", "x" * 65, "1abc"])
def test_tool_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        ToolSpec(name=name, title="T", description="d", group="g", access=Access.READ, handler=_noop)


def test_resource_args_are_frozen() -> None:
    s = spec(Access.READ, resource_args={"repo": "repos"})
    with pytest.raises(TypeError):
        s.resource_args["x"] = "y"  # type: ignore[index]
