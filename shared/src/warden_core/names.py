"""Requests that name something the server does not have: one clean JSON-RPC error on every transport.

Left to the SDK, an unknown tool gets a tool result, an unknown prompt (or a known one without its
required arguments) an internal error with a traceback in the log, an unknown completion reference an
empty list, and an unknown resource a clean `-32602`. Warden answers all of them alike, before any
handler runs: `-32602` (invalid params) naming what is missing, as the protocol asks for unknown tools
and resources, audited as a refusal.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.shared.uri_template import UriTemplate

INVALID_PARAMS = -32602


@dataclass(frozen=True)
class Unknown:
    """What a request named that does not exist: the audit outcome, and the error for the caller."""

    outcome: str
    message: str
    data: dict[str, str]


async def unknown_name(
    mcp: MCPServer[Any], method: str, params: Mapping[str, Any], tools: Container[str]
) -> Unknown | None:
    """The unknown name in a `tools/call`, `prompts/get`, `resources/read` or `completion/complete`.

    None when the name exists, and also when the parameters are malformed (the SDK's validation
    answers those). `tools` are the registered tools' names (hidden ones are not registered).
    """
    if method == "tools/call":
        name = params.get("name")
        if isinstance(name, str) and name not in tools:
            return Unknown("unknown_tool", f"Unknown tool: {name}", {"name": name})
    elif method == "prompts/get":
        name = params.get("name")
        if isinstance(name, str):
            return await _unknown_prompt_or_argument(mcp, name, params.get("arguments"))
    elif method == "resources/read":
        uri = params.get("uri")
        if isinstance(uri, str) and not await _is_resource(mcp, uri):
            return Unknown("unknown_resource", f"Unknown resource: {uri}", {"uri": uri})
    elif method == "completion/complete":
        ref = params.get("ref")
        if isinstance(ref, Mapping):
            return await _unknown_reference(mcp, ref)
    return None


async def _unknown_reference(mcp: MCPServer[Any], ref: Mapping[str, Any]) -> Unknown | None:
    name, uri = ref.get("name"), ref.get("uri")
    if ref.get("type") == "ref/prompt" and isinstance(name, str) and not await _is_prompt(mcp, name):
        return Unknown("unknown_prompt", f"Unknown prompt: {name}", {"name": name})
    if ref.get("type") == "ref/resource" and isinstance(uri, str):
        templates = {template.uri_template for template in await mcp.list_resource_templates()}
        if uri not in templates and not await _is_resource(mcp, uri):
            return Unknown("unknown_resource", f"Unknown resource template: {uri}", {"uri": uri})
    return None


async def _unknown_prompt_or_argument(mcp: MCPServer[Any], name: str, arguments: object) -> Unknown | None:
    """An unknown prompt, or a known one called without the arguments it requires."""
    prompt = next((prompt for prompt in await mcp.list_prompts() if prompt.name == name), None)
    if prompt is None:
        return Unknown("unknown_prompt", f"Unknown prompt: {name}", {"name": name})
    given = arguments if isinstance(arguments, Mapping) else {}
    missing = [arg.name for arg in prompt.arguments or () if arg.required and given.get(arg.name) is None]
    if missing:
        names = ", ".join(missing)
        return Unknown("invalid_arguments", f"Prompt {name} needs the argument(s): {names}", {"name": name})
    return None


async def _is_prompt(mcp: MCPServer[Any], name: str) -> bool:
    return any(prompt.name == name for prompt in await mcp.list_prompts())


async def _is_resource(mcp: MCPServer[Any], uri: str) -> bool:
    """A registered resource, or a URI one of the resource templates matches."""
    if any(str(resource.uri) == uri for resource in await mcp.list_resources()):
        return True
    return any(
        UriTemplate.parse(template.uri_template).match(uri) is not None
        for template in await mcp.list_resource_templates()
    )
