"""The fake API server itself: its objects satisfy the official client's strict models (so other tests can
drive the typed APIs against it), and it behaves like the real one where Warden relies on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.kubernetes.fake_kube import FakeKube, match_fields, match_labels

pytestmark = pytest.mark.anyio


def typed_client(config: Path) -> Any:
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(config), client_configuration=configuration)
    return client.ApiClient(configuration)


async def test_seeded_objects_deserialize_with_the_typed_client(cluster: FakeKube, kubeconfig: Path) -> None:
    def read() -> dict[str, Any]:
        from kubernetes import client

        with typed_client(kubeconfig) as api:
            core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
            return {
                "pods": core.list_namespaced_pod("shop"),
                "nodes": core.list_node(),
                "events": core.list_namespaced_event("shop"),
                "secrets": core.list_namespaced_secret("shop"),
                "configmaps": core.list_namespaced_config_map("shop"),
                "deployments": apps.list_namespaced_deployment("shop"),
                "statefulsets": apps.list_namespaced_stateful_set("shop"),
                "daemonsets": apps.list_daemon_set_for_all_namespaces(),
                "log": core.read_namespaced_pod_log("api-6c9d4-pqrst", "shop", container="api"),
                "scale": apps.read_namespaced_deployment_scale("web", "shop"),
                "version": client.VersionApi(api).get_code(),
            }

    found = await anyio.to_thread.run_sync(read)
    assert len(found["pods"].items) == 5 and found["pods"].items[0].status.container_statuses[0].state.waiting
    assert found["nodes"].items[2].status.conditions[-1].status == "Unknown"
    assert found["deployments"].items[0].spec.template.spec.containers
    assert found["log"].startswith("starting shop-api") and found["scale"].spec.replicas == 3
    assert found["version"].git_version == "v1.31.4"


def test_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert match_labels(labels, "app=web,tier!=back")
    assert match_labels(labels, "app in (web,api),!canary")
    assert not match_labels(labels, "app notin (web)")
    assert not match_labels(labels, "missing")
    obj = {"metadata": {"name": "x", "namespace": "shop"}, "status": {"phase": "Running"}}
    assert match_fields(obj, "metadata.name=x,status.phase!=Pending")
    assert not match_fields(obj, "metadata.namespace=kube-system")
