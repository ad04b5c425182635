"""Real transports: `python -m warden_kubernetes` over stdio, and the HTTP app behind uvicorn with an API key."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.kubernetes.fake_kube import DEFAULT_TOKEN, FakeKube
from tests.kubernetes.seed import canary_forms
from tests.support.live_http import serve_http
from warden_core import WardenServer
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings

pytestmark = pytest.mark.anyio

MODES = {"modern": "2026-07-28", "legacy": "legacy"}
API_KEY = "wk-test-key-0123456789abcdef"


async def test_stdio_subprocess(cluster: FakeKube, kubeconfig: Path, tmp_path: Path, era: str) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "warden_kubernetes"],
        env={
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "WARDEN_KUBERNETES_KUBECONFIG": str(kubeconfig),
            "WARDEN_KUBERNETES_NAMESPACES": "shop,team-*",
            "WARDEN_KUBERNETES_AUDIT_SINK": str(tmp_path / "audit.jsonl"),
        },
    )
    async with Client(params, mode=MODES[era]) as client:
        tools = await client.list_tools()
        assert len(tools.tools) == 7
        result = await client.call_tool("k8s_list", {"kind": "pods", "namespace": "shop"})
        assert not result.is_error
        assert result.structured_content is not None and result.structured_content["count"] == 5
        refused = await client.call_tool("k8s_list", {"kind": "pods", "namespace": "kube-system"})
        secret = await client.call_tool(
            "k8s_get", {"kind": "secret", "name": "db-credentials", "namespace": "shop", "output": "yaml"}
        )
    assert refused.is_error and "WARDEN_KUBERNETES_NAMESPACES" in refused.content[0].text  # type: ignore[union-attr]
    assert not any(form in secret.model_dump_json() for form in canary_forms())
    assert [r.path for r in cluster.requests] == [
        "/api/v1/namespaces/shop/pods",
        "/api/v1/namespaces/shop/secrets/db-credentials",
    ]
    audit = (tmp_path / "audit.jsonl").read_text()
    assert '"outcome":"policy_denied"' in audit and DEFAULT_TOKEN not in audit


@contextmanager
def serving(server: WardenServer) -> Iterator[str]:
    with serve_http(server) as base:
        yield f"{base}/mcp"


async def test_http_with_an_api_key(cluster: FakeKube, kubeconfig: Path, era: str) -> None:
    settings = Settings.load(
        kubeconfig=str(kubeconfig), namespaces=("shop",), transport="http", api_keys=(f"oncall:{API_KEY}",)
    )
    server = build_server(settings)
    with serving(server) as url:
        async with httpx2.AsyncClient(timeout=30) as anonymous:
            denied = await anonymous.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert denied.status_code == 401
            ready = await anonymous.get(url.replace("/mcp", "/readyz"))
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http), mode=MODES[era]) as client:
            tools = await client.list_tools()
            assert [tool.name for tool in tools.tools][:2] == ["k8s_list", "k8s_get"]
            result = await client.call_tool(
                "k8s_get", {"kind": "deployment", "name": "api", "namespace": "shop", "output": "describe"}
            )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["annotations"]["example.com/api-token"].startswith("[masked")
    assert result.structured_content["events"][0].startswith("Normal ScalingReplicaSet (3h ago): ")
