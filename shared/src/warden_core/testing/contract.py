"""The contract every Warden server keeps, checked on what `tools/list` really returns."""

from __future__ import annotations

from typing import Any

from warden_core.server import WardenServer
from warden_core.specs import Access
from warden_core.testing.toolsnaps import list_tools_json


async def check_contract(server: WardenServer, *, prefix: str) -> list[dict[str, Any]]:
    tools = await list_tools_json(server)
    names = [tool["name"] for tool in tools]
    assert len(names) == len(set(names)), f"duplicate tool names: {names}"
    assert names == [spec.name for spec in server.exposed], "tools/list must follow the spec order"
    for tool in tools:
        name = tool["name"]
        spec = server.exposed_spec(name)
        assert spec is not None, f"{name} is listed but has no spec"
        assert name.startswith(prefix), f"{name} must start with the server prefix {prefix!r}"
        assert len(tool.get("description", "")) >= 20, f"{name} needs a real description"
        assert tool.get("title"), f"{name} needs a title"
        wire = tool.get("annotations", {})
        derived = spec.annotations.model_dump(by_alias=True, exclude_none=True, mode="json")
        assert wire == derived, f"{name}: annotations must be derived from the access level"
        assert wire["readOnlyHint"] is (spec.access is Access.READ)
        schema = tool["inputSchema"]
        assert schema.get("type") == "object" and schema.get("additionalProperties") is False, (
            f"{name}: input schema must be a closed object"
        )
        assert tool.get("outputSchema", {}).get("type") == "object", f"{name}: needs a structured output schema"
    # Without a probe, /readyz can only report the breaker, which is closed until calls have failed:
    # a server whose backend is down at start would say "ready".
    assert not server.backends or server.has_readiness_probe, "a server with a backend needs a readiness probe"
    if server.settings.read_only:
        writers = [spec.name for spec in server.exposed if spec.access is not Access.READ]
        assert not writers, f"read-only mode exposes write tools {writers}"
    return tools
