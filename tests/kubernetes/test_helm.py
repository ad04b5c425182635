"""k8s_helm: Helm 3 release records read from their Secrets (built exactly as Helm writes them), masked,
inside the namespace allowlist, with every Secret request labelled `owner=helm` and a capped inflate."""

from __future__ import annotations

import base64
import json
import re
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.kubernetes import objects as o
from tests.kubernetes import seed
from tests.kubernetes.fake_kube import FakeKube
from tests.kubernetes.helpers import call, error, ok, wire
from tests.kubernetes.seed import HELM_CANARIES
from warden_core import WardenServer
from warden_kubernetes import helm
from warden_kubernetes.client import check_helm_secrets
from warden_kubernetes.masking import Masker
from warden_kubernetes.tools import DEFAULT_GROUPS

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
MASK = "[masked]"  # any kind: the kinds are the detector's to name; what matters here is what is masked
_MARKER = re.compile(r"\[masked: [a-z0-9-]+\]")


def unkinded(value: Any) -> Any:
    """`value` with every typed marker (`[masked: password]`) written as `[masked]`."""
    if isinstance(value, str):
        return _MARKER.sub(MASK, value)
    if isinstance(value, dict):
        return {key: unkinded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unkinded(item) for item in value]
    return value


HELM_ON = {"groups": (*DEFAULT_GROUPS, "helm")}  # the helm group is off by default
SHOP = {"namespace": "shop", "release": "shop"}


@pytest.fixture
def releases(cluster: FakeKube) -> FakeKube:
    seed.helm(cluster)
    return cluster


def secret_requests(kube: FakeKube) -> list[tuple[str, str]]:
    return [(r.path, r.param("labelSelector") or "") for r in kube.requests if "/secrets" in r.path]


def bomb(size: int) -> bytes:
    """Helm's encoding (base64 of gzip) of `size` zero bytes: a record that inflates about a thousandfold."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    packed = b"".join(packer.compress(chunk) for _ in range(size >> 20)) + packer.flush()
    return base64.b64encode(packed)


# --- the views ------------------------------------------------------------------------------------------
async def test_list_shows_the_latest_revision_of_each_release(releases: FakeKube, make_server: Make, era: str) -> None:
    result = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "list", "namespace": "shop"}, era)
    rows = {row["name"]: row for row in result["releases"]}
    assert sorted(rows) == ["billing", "shop"], "the impostor Secret is not a release"
    assert rows["shop"] | {"updated": None} == {
        "name": "shop",
        "namespace": "shop",
        "revision": 3,
        "status": "deployed",
        "chart": "shop-1.4.0",
        "app_version": "2.3.1",
        "updated": None,
        "description": "Upgrade complete",
    }
    assert rows["shop"]["updated"].endswith(".123456789Z")
    assert rows["billing"]["status"] == "failed" and rows["billing"]["revision"] == 2
    assert rows["billing"]["description"] == 'Upgrade "billing" failed: context deadline exceeded'
    assert result["namespaces"] == ["shop"] and result["truncated"] is False and result["note"] is None
    metadata_list, *reads = releases.requests
    assert metadata_list.headers["accept"].startswith("application/json;as=PartialObjectMetadataList;")
    assert secret_requests(releases) == [
        ("/api/v1/namespaces/shop/secrets", "owner=helm"),
        ("/api/v1/namespaces/shop/secrets", "owner=helm,name=billing,version=2"),
        ("/api/v1/namespaces/shop/secrets", "owner=helm,name=impostor,version=1"),
        ("/api/v1/namespaces/shop/secrets", "owner=helm,name=shop,version=3"),
    ]
    assert all(r.headers["accept"] == "application/json" for r in reads), "only the records read are fetched whole"


async def test_list_across_namespaces_stays_inside_the_allowlist(releases: FakeKube, make_server: Make) -> None:
    server = make_server(**HELM_ON, namespaces=("shop", "team-*"))
    result = await ok(server, "k8s_helm", {"view": "list"})
    assert [(row["namespace"], row["name"]) for row in result["releases"]] == [
        ("shop", "billing"),
        ("shop", "shop"),
        ("team-a", "worker"),
    ]
    assert secret_requests(releases)[0] == ("/api/v1/secrets", "owner=helm")
    assert not [path for path, _ in secret_requests(releases) if "kube-system" in path]
    one = await ok(server, "k8s_helm", {"view": "list", "release": "worker", "limit": 1})
    assert [row["name"] for row in one["releases"]] == ["worker"]


async def test_history_newest_first(releases: FakeKube, make_server: Make) -> None:
    result = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "history", **SHOP})
    assert [(r["revision"], r["status"], r["chart"], r["app_version"]) for r in result["releases"]] == [
        (3, "deployed", "shop-1.4.0", "2.3.1"),
        (2, "superseded", "shop-1.3.0", "2.2.0"),
        (1, "superseded", "shop-1.2.0", "2.1.0"),
    ]
    limited = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "history", **SHOP, "limit": 2})
    assert [r["revision"] for r in limited["releases"]] == [3, 2] and limited["truncated"] is True


async def test_status_with_masked_notes_and_the_resources(releases: FakeKube, make_server: Make) -> None:
    result = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "status", **SHOP})
    assert [r["revision"] for r in result["releases"]] == [3]
    assert (
        unkinded(result["notes"])
        == f"Shop is running at https://shop.example.com\nThe database password is {MASK} (user shop).\n"
    )
    assert result["resources"] == ["Secret/shop-db", "ConfigMap/shop-redis", "Deployment/shop-web"]
    older = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "status", **SHOP, "revision": 1})
    assert older["releases"][0]["status"] == "superseded" and older["releases"][0]["app_version"] == "2.1.0"


async def test_values_are_the_user_supplied_ones_masked(releases: FakeKube, make_server: Make) -> None:
    result = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "values", **SHOP})
    values = unkinded(yaml.safe_load(result["values"]))
    assert values == {
        "replicaCount": 3,
        "image": {"repository": "registry.example.com/shop-web", "tag": "2.3.1"},
        "postgresql": {"auth": {"username": "shop", "password": MASK}},
        "redis": {"password": MASK, "port": 6379},  # a numeric password too
        "stripe": {"apiKey": MASK, "mode": "live"},
        "extraEnv": [{"name": "SMTP_PASSWORD", "value": MASK}, {"name": "LOG_LEVEL", "value": "info"}],
        "ingress": {"enabled": True, "hosts": ["shop.example.com"]},
    }


async def test_manifest_objects_are_masked_and_their_sources_kept(releases: FakeKube, make_server: Make) -> None:
    result = await ok(make_server(**HELM_ON), "k8s_helm", {"view": "manifest", **SHOP})
    text = unkinded(result["manifest"])
    assert text.count("---\n# Source: shop/templates/") == 3
    secret, config, deployment = yaml.safe_load_all(text)
    assert secret["data"] == {"password": MASK, "tls.key": MASK} and secret["stringData"] == {"stripe-api-key": MASK}
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    assert config["data"] == {"redis.conf": f"bind 0.0.0.0\nrequirepass {MASK}\n", "cache.ttl": "60"}
    assert f"  redis.conf: |\n    bind 0.0.0.0\n    requirepass {MASK}\n" in text, "config files read as blocks"
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "SMTP_PASSWORD", "value": MASK}, {"name": "DB_HOST", "value": "shop-postgresql"}]


async def test_no_canary_leaves_the_server(
    releases: FakeKube, make_server: Make, log_capture: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    server = make_server(**HELM_ON, namespaces=("*",), log_level="DEBUG")
    received = []
    for arguments in (
        {"view": "list"},
        {"view": "history", **SHOP},
        *(
            {"view": view, **SHOP, "revision": revision}
            for view in ("status", "values", "manifest")
            for revision in (1, 3)
        ),
        {"view": "status", "namespace": "shop", "release": "impostor"},
    ):
        received.append(wire(await call(server, "k8s_helm", arguments)))
    everything = "\n".join([*received, *log_capture.lines, *capfd.readouterr()])
    payload = releases.get("secrets", "sh.helm.release.v1.shop.v3", "shop")["data"]["release"]  # type: ignore[index]
    forms = [payload, base64.b64decode(payload).decode()]
    for value in HELM_CANARIES.values():
        forms += [value, base64.b64encode(value.encode()).decode()]
    assert not [form for form in forms if form in everything]
    assert "Install complete" in everything, "the calls did read the records"


# --- what may be read -----------------------------------------------------------------------------------
async def test_namespace_refusals_make_no_request(releases: FakeKube, make_server: Make) -> None:
    server = make_server(**HELM_ON, namespaces=("shop",))
    for arguments in (
        {"view": "status", "namespace": "kube-system", "release": "ingress-nginx"},
        {"view": "list", "namespace": "team-a"},
    ):
        assert "WARDEN_KUBERNETES_NAMESPACES" in await error(server, "k8s_helm", arguments)
    assert releases.requests == []


async def test_with_the_helm_group_on_secrets_are_read_only_as_releases(releases: FakeKube, make_server: Make) -> None:
    server = make_server(**HELM_ON)
    for tool, arguments in (
        ("k8s_list", {"kind": "secrets", "namespace": "shop"}),
        ("k8s_list", {"kind": "secrets", "namespace": "shop", "label_selector": "owner=helm"}),
        ("k8s_get", {"kind": "Secret", "name": "db-credentials", "namespace": "shop", "output": "json"}),
    ):
        assert "only as Helm release records" in await error(server, tool, arguments)
    assert releases.requests == []
    events = await ok(server, "k8s_events", {"namespace": "shop", "kind": "secret", "name": "db-credentials"})
    assert events["items"] == [], "events about a Secret are not the Secret"
    # Off (the default), generic Secret reads are as before: keys and types, values masked.
    listed = await ok(make_server(), "k8s_list", {"kind": "secrets", "namespace": "shop"})
    assert "db-credentials" in {row["name"] for row in listed["items"]}
    assert "k8s_helm" not in {spec.name for spec in make_server().exposed}


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/api/v1/namespaces/shop/secrets/db-credentials", []),
        ("GET", "/api/v1/namespaces/shop/secrets", []),
        ("GET", "/api/v1/secrets", [("labelSelector", "app=web")]),
        ("GET", "/api/v1/secrets", [("labelSelector", "name=x,owner=helm")]),
        ("GET", "/api/v1/namespaces/shop/secrets", [("labelSelector", "owner=helm"), ("watch", "true")]),
        ("DELETE", "/api/v1/namespaces/shop/secrets", [("labelSelector", "owner=helm")]),
    ],
)
def test_the_client_refuses_any_other_secret_request(method: str, path: str, query: list[tuple[str, str]]) -> None:
    with pytest.raises(RuntimeError, match="only as Helm releases"):
        check_helm_secrets(method, path, query)


def test_the_client_lets_release_lists_and_other_kinds_through() -> None:
    check_helm_secrets("GET", "/api/v1/namespaces/shop/secrets", [("labelSelector", "owner=helm,name=shop")])
    check_helm_secrets("GET", "/api/v1/namespaces/shop/configmaps/secrets", [])
    check_helm_secrets("GET", "/apis/example.com/v1/namespaces/shop/secrets/x", [])  # a CRD's "secrets"


async def test_denied_secrets_close_helm(releases: FakeKube, make_server: Make) -> None:
    server = make_server(**HELM_ON, deny_kinds=("Secret",))
    assert "denied" in await error(server, "k8s_helm", {"view": "list", "namespace": "shop"})
    assert releases.requests == []


async def test_unknown_releases_and_revisions(releases: FakeKube, make_server: Make) -> None:
    server = make_server(**HELM_ON)
    assert "no Helm release 'ghost'" in await error(
        server, "k8s_helm", {"view": "status", "namespace": "shop", "release": "ghost"}
    )
    assert "at revision 9" in await error(server, "k8s_helm", {"view": "values", **SHOP, "revision": 9})
    assert "no Helm release 'ghost'" in await error(
        server, "k8s_helm", {"view": "history", "namespace": "shop", "release": "ghost"}
    )
    assert "give `release` and `namespace`" in await error(server, "k8s_helm", {"view": "values", "namespace": "shop"})
    impostor = await error(server, "k8s_helm", {"view": "status", "namespace": "shop", "release": "impostor"})
    assert "no Helm release 'impostor'" in impostor
    assert "pattern" in await error(server, "k8s_helm", {"view": "list", "release": "a,owner!=helm"})


# --- the inflate cap ------------------------------------------------------------------------------------
async def test_a_gzip_bomb_is_refused_unread(releases: FakeKube, make_server: Make) -> None:
    releases.add(o.helm_secret("bomb", "shop", 1, "deployed", bomb(64 << 20)))  # 64 MiB, four times the cap
    server = make_server(**HELM_ON)
    listed = await ok(server, "k8s_helm", {"view": "list", "namespace": "shop"})
    row = next(row for row in listed["releases"] if row["name"] == "bomb")
    assert row["status"] == "deployed" and row["chart"] is None
    cap = 16 << 20  # WARDEN_KUBERNETES_HELM_RELEASE_BYTES, by default
    assert listed["note"] == (
        f"records not read: shop/bomb revision 1: the release record inflates to more than {cap} bytes, "
        "so it was not read"
    )
    status = await ok(server, "k8s_helm", {"view": "values", "namespace": "shop", "release": "bomb"})
    assert status["values"] is None and "more than 16777216 bytes" in status["note"]
    assert len({row["name"] for row in listed["releases"]}) == 3, "the other releases are still read"


def test_inflating_a_bomb_stops_at_the_cap() -> None:
    secret = o.helm_secret("bomb", "shop", 1, "deployed", bomb(64 << 20))
    limit = 4 << 20
    tracemalloc.start()
    try:
        with pytest.raises(helm.Unreadable, match=f"more than {limit} bytes"):
            helm.decode(secret, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # About twice the cap at most (zlib grows its output buffer), never the 64 MiB the bomb holds.
    assert peak < 3 * limit, f"inflating used {peak} bytes"


def test_records_helm_wrote_without_gzip_and_broken_ones() -> None:
    plain = {"name": "x", "info": {"status": "deployed"}, "version": 1}
    secret = o.helm_secret("x", "shop", 1, "deployed", base64.b64encode(json.dumps(plain).encode()))
    assert helm.decode(secret, 1 << 20) == plain
    for payload, reason in (
        (b"%%%", "not base64"),
        (base64.b64encode(b"\x1f\x8b\x08garbage"), "not valid gzip"),
        (base64.b64encode(b"[1, 2]"), "not a JSON object"),
        (base64.b64encode(b"[" * 100_000), "not JSON"),
    ):
        with pytest.raises(helm.Unreadable, match=reason):
            helm.decode(o.helm_secret("x", "shop", 1, "deployed", payload), 1 << 20)


def test_manifest_documents_with_aliases_are_withheld() -> None:
    manifest = (
        "---\n# Source: x/templates/a.yaml\na: &x [1, 2]\nb: [*x, *x]\n---\nkind: ConfigMap\nmetadata:\n  name: ok\n"
    )
    withheld = "---\n# Source: x/templates/a.yaml\n# [document withheld: it uses YAML aliases]\n"
    kept = "---\nkind: ConfigMap\nmetadata:\n  name: ok\n"
    assert helm.mask_manifest(Masker(), manifest, set(), 10_000) == (withheld + kept, False)
    assert helm.mask_manifest(Masker(), manifest, set(), len(withheld) + 10) == (withheld, True)
