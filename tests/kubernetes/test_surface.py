"""The tool surface: toolsnaps and manifests per mode, the contract, the context budget, prompts, lazy start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kubernetes.helpers import error
from warden_core.testing import check_contract, check_tools_list_budget, check_toolsnaps, connect, list_tools_json
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings
from warden_kubernetes.tools import GROUPS

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
MODES = {
    "default": {},
    "read-only": {"groups": GROUPS, "read_only": True},
    "all": {"groups": GROUPS, "read_only": False, "allow_destructive": True, "write_namespaces": ("shop",)},
}
READ_TOOLS = [
    "k8s_list",
    "k8s_get",
    "k8s_events",
    "k8s_pod_logs",
    "k8s_rollout_status",
    "k8s_cluster_overview",
    "k8s_top",
]
WRITE_TOOLS = ["k8s_scale", "k8s_rollout_restart", "k8s_delete_pod"]
OPTIONAL_TOOLS = ["k8s_helm", "k8s_access"]  # read tools in groups that are off by default


@pytest.mark.parametrize("mode", MODES)
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = build_server(Settings.load(**MODES[mode]))
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="k8s_")
    names = [tool["name"] for tool in tools]
    expected = {
        "default": READ_TOOLS,
        "read-only": [*READ_TOOLS, *OPTIONAL_TOOLS],
        "all": [*READ_TOOLS[:5], *WRITE_TOOLS, *READ_TOOLS[5:], *OPTIONAL_TOOLS],
    }[mode]
    assert names == expected


async def test_writes_are_destructive_and_confirmed_tools() -> None:
    server = build_server(Settings.load(**MODES["all"]))
    tools = {tool["name"]: tool for tool in await list_tools_json(server)}
    for name in WRITE_TOOLS:
        hints = tools[name]["annotations"]
        assert hints["readOnlyHint"] is False and hints["destructiveHint"] is True, name
        assert "confirmation" not in tools[name]["inputSchema"]["properties"], "resolved, never a model argument"
    assert tools["k8s_scale"]["annotations"]["idempotentHint"] is True
    assert tools["k8s_rollout_restart"]["annotations"]["idempotentHint"] is False


@pytest.mark.parametrize(
    "settings",
    [
        {"read_only": False, "write_namespaces": ("shop",)},  # destructive not allowed
        {"read_only": False, "allow_destructive": True},  # no write namespace
        {"write_namespaces": ("shop",)},  # read-only
    ],
)
async def test_writes_need_three_opt_ins(settings: dict[str, object]) -> None:
    server = build_server(Settings.load(**settings))
    assert [spec.name for spec in server.exposed] == READ_TOOLS


async def test_default_tools_list_fits_the_context_budget() -> None:
    await check_tools_list_budget(build_server(Settings.load()))


async def test_the_context_argument_is_offered_only_when_a_call_may_pick_one() -> None:
    """Without WARDEN_KUBERNETES_CONTEXTS only the default context is reachable: an argument could only fail."""
    alone = await list_tools_json(build_server(Settings.load(**MODES["all"])))
    assert not [tool["name"] for tool in alone if "context" in tool["inputSchema"]["properties"]]
    several = await list_tools_json(build_server(Settings.load(**MODES["all"], contexts=("dev", "prod"))))
    assert [tool["name"] for tool in several if "context" in tool["inputSchema"]["properties"]] == [
        tool["name"] for tool in alone
    ]


async def test_no_tool_can_exec_attach_forward_or_proxy() -> None:
    server = build_server(Settings.load(**MODES["all"]))
    text = json.dumps(await list_tools_json(server)).lower()
    for word in ("exec", "attach", "port-forward", "portforward", "proxy"):
        assert word not in text.replace("k8s_", ""), word


def test_starts_without_credentials_and_without_importing_the_client(tmp_path: Path) -> None:
    """Build and list tools in a fresh process: no kubeconfig needed, and the kubernetes client is not imported."""
    script = (
        "import sys, anyio\n"
        "from warden_kubernetes.server import build_server\n"
        "from warden_kubernetes.settings import Settings\n"
        "from warden_core.testing import list_tools_json\n"
        "server = build_server(Settings.load())\n"
        "tools = anyio.run(list_tools_json, server)\n"
        "print(len(tools), 'kubernetes' in sys.modules, 'aiohttp' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(READ_TOOLS)), "False", "False"]


async def test_without_a_credential_calls_name_the_setting(tmp_path: Path) -> None:
    server = build_server(Settings.load(kubeconfig=str(tmp_path / "missing"), namespaces=("shop",)))
    message = await error(server, "k8s_list", {"kind": "pods", "namespace": "shop"})
    assert "WARDEN_KUBERNETES_KUBECONFIG" in message
    assert not await server.ready()


async def test_diagnose_prompt(era: str) -> None:
    server = build_server(Settings.load())
    async with connect(server, era) as client:
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["k8s_diagnose_workload"]
        result = await client.get_prompt(
            "k8s_diagnose_workload", {"kind": "deployment", "name": "api", "namespace": "shop"}
        )
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert 'deployment "api" in namespace "shop"' in text
    for tool in ("k8s_get", "output=describe", "k8s_rollout_status", "k8s_pod_logs", "k8s_events", "kind=nodes"):
        assert tool in text
