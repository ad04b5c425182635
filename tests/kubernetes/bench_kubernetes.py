"""Measure warden-kubernetes against the fake API server (not a test; prints a table).

    uv run python -m tests.kubernetes.bench_kubernetes

- raw sync client (`ApiClient.call_api` in a worker thread, what the server uses) vs `kubernetes.aio`,
  listing 50 pods;
- the same list as a `k8s_list` tool call (in-memory client), and a `k8s_get` summary;
- cold start: `python -m warden_kubernetes` answering `tools/list` over stdio, and its first tool call
  (which imports the client and loads the kubeconfig).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from tests.kubernetes import objects as o
from tests.kubernetes.fake_kube import FakeKube
from warden_core.testing import connect, list_tools_json
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings

ROUNDS = 200


async def timed(fn: Callable[[], Awaitable[Any]], rounds: int = ROUNDS) -> tuple[float, float]:
    for _ in range(10):
        await fn()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.95)] * 1000


async def client_figures(config: Path) -> dict[str, tuple[float, float]]:
    from kubernetes.aio import client as aio_client
    from kubernetes.aio import config as aio_config

    from kubernetes import client as sync_client
    from kubernetes import config as sync_config

    figures = {}
    conf = sync_client.Configuration()
    sync_config.load_kube_config(config_file=str(config), client_configuration=conf)
    api = sync_client.ApiClient(conf)

    def sync_get() -> Any:
        request = api.param_serialize(
            "GET",
            "/api/v1/namespaces/shop/pods",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        return json.loads(api.call_api(*request, _request_timeout=(5, 20)).read())

    figures["raw sync client in a thread"] = await timed(lambda: anyio.to_thread.run_sync(sync_get))

    aconf = aio_client.Configuration()
    await aio_config.load_kube_config(config_file=str(config), client_configuration=aconf)
    async with aio_client.ApiClient(aconf) as aapi:

        async def aio_get() -> Any:
            request = await aapi.param_serialize(
                "GET",
                "/api/v1/namespaces/shop/pods",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = await aapi.call_api(*request, _request_timeout=20)
            return json.loads(await response.read())

        figures["raw kubernetes.aio client"] = await timed(aio_get)
    return figures


async def tool_figures(config: Path) -> dict[str, tuple[float, float]]:
    server = build_server(
        Settings.load(kubeconfig=str(config), namespaces=("shop",), audit_sink="/dev/null", rate_limit="100000/minute")
    )
    figures = {}
    async with connect(server) as client:
        figures["k8s_list 50 pods (tool call)"] = await timed(
            lambda: client.call_tool("k8s_list", {"kind": "pods", "namespace": "shop", "limit": 50})
        )
        figures["k8s_get pod summary (tool call)"] = await timed(
            lambda: client.call_tool("k8s_get", {"kind": "pod", "name": "p-000", "namespace": "shop"})
        )
    tools = await list_tools_json(build_server(Settings.load(audit_sink="/dev/null")))
    sys.stdout.write(
        f"default tools/list: {len(tools)} tools, {len(json.dumps(tools, separators=(',', ':')))} characters" + "\n"
    )
    return figures


def cold_start(config: Path) -> dict[str, float]:
    """Spawn the stdio server; time `tools/list`, then the first tool call, over real pipes."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": tempfile.gettempdir(),
        "WARDEN_KUBERNETES_KUBECONFIG": str(config),
        "WARDEN_KUBERNETES_NAMESPACES": "shop",
        "WARDEN_KUBERNETES_AUDIT_SINK": "/dev/null",
    }
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "k8s_list", "arguments": {"kind": "pods", "namespace": "shop", "limit": 5}},
        },
    ]
    runs: dict[str, list[float]] = {"initialize": [], "tools/list": [], "first k8s_list": []}
    for _ in range(5):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "warden_kubernetes"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        marks = {}
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            if "id" in message:
                process.stdout.readline()
                marks[message["id"]] = time.perf_counter() - started
        process.stdin.close()
        process.wait(timeout=10)
        runs["initialize"].append(marks[1])
        runs["tools/list"].append(marks[2])
        runs["first k8s_list"].append(marks[3] - marks[2])
    return {name: statistics.median(values) * 1000 for name, values in runs.items()}


async def main() -> None:
    kube = FakeKube()
    kube.add(o.namespace("shop"), *(o.pod(f"p-{i:03}", "shop", labels={"app": "bench"}) for i in range(50)))
    with tempfile.TemporaryDirectory() as tmp, kube.serving():
        config = kube.kubeconfig(Path(tmp) / "config")
        figures = await client_figures(config)
        figures |= await tool_figures(config)
        sys.stdout.write(f"{'call':40} {'median ms':>10} {'p95 ms':>8}" + "\n")
        for name, (median, p95) in figures.items():
            sys.stdout.write(f"{name:40} {median:10.2f} {p95:8.2f}" + "\n")
        for name, value in (await anyio.to_thread.run_sync(cold_start, config)).items():
            sys.stdout.write(f"stdio cold start, {name:23} {value:10.0f} ms (median of 5)" + "\n")


if __name__ == "__main__":
    anyio.run(main)
