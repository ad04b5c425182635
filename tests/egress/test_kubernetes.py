"""Kubernetes: canaries in pod logs (a private key across lines, selected by grep and tail), ConfigMap
values and their last-applied copy, annotations and events never come back, over memory, stdio and HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.egress.canaries import PEM_BODY, PLANTED, VISIBLE, assert_clean
from tests.egress.harness import API_KEY, Calls, in_memory, over_http, over_stdio
from tests.kubernetes import objects as o
from tests.kubernetes.fake_kube import DEFAULT_TOKEN, FakeKube
from warden_kubernetes.masking import LAST_APPLIED
from warden_kubernetes.server import build_server
from warden_kubernetes.settings import Settings

pytestmark = pytest.mark.anyio

SECRET_NAMED = {
    "DB_PASS": "Cn4ryCmDbPass-1",
    "JWT_SIGNING_KEY": "Cn4ryCmSigning-2",
    "ENCRYPTION_KEY": "Cn4ryCmEncryption-3",
    "HMAC_KEY": "Cn4ryCmHmac-4",
}
DOCKER_CONFIG = json.dumps({"auths": {"registry.acme.io": {"auth": "Q24xcnlDbURvY2tlckF1dGg6eA=="}}})
INI = "[database]\nhost = db.shop.svc\npass = Cn4ryCmIniPass-5\n"
WEBHOOK = "https://hooks.slack.com/services/T0CANARY9/B0CANARY8/Cn4ryCmWebhookZz"
EXTRA = (*SECRET_NAMED.values(), "Q24xcnlDbURvY2tlckF1dGg6eA==", "Cn4ryCmIniPass-5", "Cn4ryCmWebhookZz", DEFAULT_TOKEN)

CALLS: Calls = [
    ("k8s_pod_logs", {"name": "leaky-0", "namespace": "shop", "tail_lines": 500}),
    ("k8s_pod_logs", {"name": "leaky-0", "namespace": "shop", "tail_lines": 500, "grep": "Cn4ry|MII|key"}),
    ("k8s_pod_logs", {"name": "leaky-0", "namespace": "shop", "tail_lines": 4}),
    ("k8s_get", {"kind": "cm", "name": "leaky-config", "namespace": "shop", "output": "json"}),
    ("k8s_get", {"kind": "cm", "name": "leaky-config", "namespace": "shop", "output": "yaml"}),
    ("k8s_get", {"kind": "pod", "name": "leaky-0", "namespace": "shop", "output": "describe"}),
    ("k8s_get", {"kind": "pod", "name": "leaky-0", "namespace": "shop", "output": "yaml"}),
    ("k8s_events", {"namespace": "shop"}),
]


def plant(kube: FakeKube) -> None:
    kube.add(*(o.namespace(name) for name in ("default", "shop")))
    data = {**SECRET_NAMED, "config.json": DOCKER_CONFIG, "app.ini": INI, "ALERTS": WEBHOOK, "NOTES": PLANTED}
    config_map = o.configmap("leaky-config", "shop", data)
    config_map["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(config_map), "notes": PLANTED}
    kube.add(
        config_map,
        o.pod("leaky-0", "shop", containers=[o.container_spec("app")], annotations={"runbook": PLANTED}),
        o.event("leaky-0.1", "shop", involved=("Pod", "leaky-0"), reason="Failed", message=PLANTED, type_="Warning"),
    )
    kube.set_log("shop", "leaky-0", "app", PLANTED + "\nready\n")


def check(wire: str) -> None:
    assert VISIBLE in wire and "[masked" in wire
    assert_clean({"answers": wire}, extra=EXTRA)


def settings(kubeconfig: Path, **overrides: object) -> Settings:
    return Settings.load(kubeconfig=str(kubeconfig), namespaces=("shop",), audit_sink="stderr", **overrides)


async def test_in_memory_both_eras(
    kube: FakeKube, kubeconfig: Path, era: str, capfd: pytest.CaptureFixture[str]
) -> None:
    plant(kube)
    answers = await in_memory(build_server(settings(kubeconfig, log_level="DEBUG")), CALLS, era)
    answers.check(CALLS)
    check(answers.wire)
    # grep and tail select among masked lines: a key's base64 lines are never what they find
    logs = answers.results[1]["structuredContent"]["text"] + answers.results[2]["structuredContent"]["text"]
    assert not any(line[:30] in logs for line in PEM_BODY)
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err, "stdout": captured.out}, extra=EXTRA)


async def test_over_http(kube: FakeKube, kubeconfig: Path, capfd: pytest.CaptureFixture[str]) -> None:
    plant(kube)
    answers = await over_http(build_server(settings(kubeconfig, api_keys=(f"ci:{API_KEY}",))), CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stderr (logs, audit)": capfd.readouterr().err}, extra=EXTRA)


def test_over_stdio(kube: FakeKube, kubeconfig: Path, tmp_path: Path) -> None:
    plant(kube)
    env = {
        "HOME": str(tmp_path),
        "WARDEN_KUBERNETES_KUBECONFIG": str(kubeconfig),
        "WARDEN_KUBERNETES_NAMESPACES": "shop",
        "WARDEN_KUBERNETES_LOG_LEVEL": "DEBUG",
    }
    answers, everything = over_stdio("warden_kubernetes", env, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stdio (stdout and stderr)": everything}, extra=EXTRA)
