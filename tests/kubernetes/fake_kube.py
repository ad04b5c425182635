"""A fake kube-apiserver over real HTTP (or HTTPS) on 127.0.0.1, for driving the official client.

It serves what a read-mostly client needs, the way the real API server does:

- discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) and `/version`;
- get, list (label and field selectors, `limit`/`continue` paging, list items without kind), and
  watch (chunked JSON lines, scripted events, `timeoutSeconds`) for core, apps, batch and CRD kinds;
- pod logs (`container`, `tailLines`, `previous`, `sinceSeconds`, `limitBytes`), streamed in chunks;
- metrics-server's API (`metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics), which `remove_api` takes
  away to play a cluster without metrics-server;
- lists of metadata only (`Accept: application/json;as=PartialObjectMetadataList;...`), as `kubectl get
  -o name` asks for them (Helm's release Secrets are built by `objects.helm_release`);
- the writes Warden may make: PATCH of a workload or its `scale` subresource, DELETE of a pod;
- RBAC objects, and the access reviews a read-only client may create (SelfSubjectRulesReview for the
  token's identity, LocalSubjectAccessReview for any subject), answered from those objects as the API
  server's RBAC authorizer would, and never stored;
- `Status` errors: 401 for a wrong token, 403 for `forbid(...)` rules, 404, 400, 405, 410.

Every request is recorded (`requests`, `calls(...)`), so a test can prove that a refused call
made no request. Each response goes out in one write with Nagle disabled (chunks of a stream too).

Fault injection: `inject(...)` answers matching requests with a canned response (5xx, 429 with
Retry-After, a Status) a number of times; `hang(...)` holds matching requests open. Both are
small on purpose: later fault tests can subclass `FakeKube` or add routes to `api`.

Use it through the `kube` fixture in `tests/kubernetes/conftest.py`, or directly:

    with FakeKube().serving() as kube:
        kube.add(objects.pod("web-1", "shop"))
        path = kube.kubeconfig(tmp_path / "config")
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.support.fake_http import FakeAPI, Request, Response

DEFAULT_TOKEN = "fake-sa-token-7fK2pQ9wX4mZ8rT1vB6nJ3cY5hL0dE"
SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4",
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean",
    "buildDate": "2025-01-12T10:00:00Z",
    "goVersion": "go1.22.10",
    "compiler": "gc",
    "platform": "linux/amd64",
}
# Subresources a cluster really has, and that Warden must never touch.
FORBIDDEN_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "eviction", "binding", "token"})
# The only creates Warden makes: access reviews, which the API server answers and never stores.
REVIEWS = re.compile(
    r"^/apis/authorization\.k8s\.io/v1/(?:selfsubjectrulesreviews|namespaces/[^/]+/localsubjectaccessreviews)$"
)
SERVER_IDENTITY = (
    "system:serviceaccount:warden:warden-kubernetes",
    ["system:serviceaccounts", "system:serviceaccounts:warden", "system:authenticated"],
)


@dataclass
class Stream(Response):
    """A response sent with `Transfer-Encoding: chunked`, one write per chunk, as the chunks come."""

    chunks: Iterable[bytes] = ()


@dataclass(frozen=True)
class FakeType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


TYPES: tuple[FakeType, ...] = (
    FakeType("", "v1", "pods", "Pod", True, ("po",)),
    FakeType("", "v1", "services", "Service", True, ("svc",)),
    FakeType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    FakeType("", "v1", "secrets", "Secret", True),
    FakeType("", "v1", "namespaces", "Namespace", False, ("ns",)),
    FakeType("", "v1", "nodes", "Node", False, ("no",)),
    FakeType("", "v1", "events", "Event", True, ("ev",)),
    FakeType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    FakeType("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    FakeType("", "v1", "podtemplates", "PodTemplate", True),
    FakeType("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    FakeType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    FakeType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",)),
    FakeType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",)),
    FakeType("batch", "v1", "jobs", "Job", True),
    FakeType("batch", "v1", "cronjobs", "CronJob", True, ("cj",)),
    FakeType("cert-manager.io", "v1", "certificates", "Certificate", True, ("cert", "certs")),
    FakeType("cert-manager.io", "v1", "clusterissuers", "ClusterIssuer", False),
    FakeType("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=("create",)),
    FakeType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    FakeType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    FakeType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    FakeType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    # access reviews: answered from the RBAC objects above, never stored
    FakeType(
        "authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=("create",)
    ),
    FakeType("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)),
    FakeType(
        "authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True, verbs=("create",)
    ),
    # metrics-server's aggregated API (`remove_api("metrics.k8s.io")` for a cluster without it)
    FakeType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=("get", "list")),
    FakeType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=("get", "list")),
)
_SUBRESOURCES = {
    "pods": ("log", "exec", "attach", "portforward", "proxy", "status", "eviction"),
    "deployments": ("scale", "status"),
    "statefulsets": ("scale", "status"),
    "nodes": ("proxy", "status"),
    "services": ("proxy", "status"),
    "serviceaccounts": ("token",),
}

_RESOURCE = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<gv>[^/]+))(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def status(code: int, reason: str, message: str, **details: Any) -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or None,
        "code": code,
    }
    return Response(code, body)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def match_labels(labels: dict[str, str], selector: str) -> bool:
    """Equality, inequality, set (`in`, `notin`) and existence requirements, comma-separated."""
    for requirement in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = requirement.strip()
        if not term:
            continue
        if found := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = found.group(1), found.group(2), {v.strip() for v in found.group(3).split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def match_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        path, value = term.split("!=" if negate else "=", 1)
        path = path.strip().rstrip("=")
        actual = _lookup(obj, path)
        actual = "" if actual is None else str(actual)
        if (actual == value.strip()) == negate:
            return False
    return True


class FakeKube:
    def __init__(self, tokens: Iterable[str] = (DEFAULT_TOKEN,), version: dict[str, Any] | None = None) -> None:
        self.api = FakeAPI()
        self.tokens = set(tokens)
        self.version = version or dict(SERVER_VERSION)
        self.types = list(TYPES)
        self.store: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.logs: dict[tuple[str, str, str, bool], str] = {}
        self.forbidden: list[tuple[str, str, str | None, str | None]] = []
        self.impersonable: set[str] | None = None
        self.watch_scripts: dict[tuple[str, str, str], list[tuple[float, str, dict[str, Any]]]] = {}
        self.max_watch_seconds = 10.0
        self._faults: list[list[Any]] = []
        self._hangs: list[tuple[re.Pattern[str], float]] = []
        self._release = threading.Event()
        self._lock = threading.RLock()
        self._rv = itertools.count(5000)
        self._server: ThreadingHTTPServer | None = None
        self.tls: tuple[Path, Path] | None = None
        self._routes()

    # --- Data. ------------------------------------------------------------------------------------
    def type_for(self, kind_or_plural: str, group: str | None = None) -> FakeType:
        for t in self.types:
            if kind_or_plural in (t.kind, t.plural) and (group is None or t.group == group):
                return t
        raise KeyError(kind_or_plural)

    def add(self, *objects: dict[str, Any]) -> None:
        with self._lock:
            for obj in objects:
                group = obj["apiVersion"].rpartition("/")[0]
                t = self.type_for(obj["kind"], group)
                meta = obj["metadata"]
                self.store.setdefault((t.group, t.plural), {})[(meta.get("namespace", ""), meta["name"])] = obj

    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        t = self.type_for(kind)
        return self.store.get((t.group, t.plural), {}).get((namespace if t.namespaced else "", name))

    def remove_api(self, group: str) -> None:
        """Serve no API group `group` any more, like a cluster where its add-on is not installed (404s)."""
        self.types = [t for t in self.types if t.group != group]

    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        self.logs[(namespace, pod, container, previous)] = text

    def forbid(self, verb: str, plural: str, namespace: str | None = None, *, user: str | None = None) -> None:
        """Answer 403 like RBAC does for `verb` on `plural` (in `namespace`, or everywhere), for every
        caller or only for requests impersonating `user`."""
        self.forbidden.append((verb, plural, namespace, user))

    def allow_impersonation(self, *users: str) -> None:
        """From now on, impersonating anyone but `users` is refused, as RBAC without `impersonate` does."""
        self.impersonable = set(users)

    def script_watch(self, plural: str, namespace: str, name: str, events: list[tuple[float, str, dict]]) -> None:
        """Events a watch on one object sends: (delay seconds, ADDED|MODIFIED|DELETED, object)."""
        self.watch_scripts[(plural, namespace, name)] = events

    # --- Fault injection. -----------------------------------------------------------------------
    def inject(self, method: str, pattern: str, response: Response, times: int = 1) -> None:
        """Answer the next `times` requests matching `method` and `pattern` (a regex on the path) with `response`."""
        with self._lock:
            self._faults.append([method.upper(), re.compile(pattern), response, times])

    def hang(self, pattern: str, seconds: float) -> None:
        """Hold requests whose path matches `pattern` for `seconds` (released early when the fake stops)."""
        self._hangs.append((re.compile(pattern), seconds))

    # --- Request log. -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        return self.api.requests

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Request]:
        return self.api.calls(method, path_contains)

    def reset(self) -> None:
        self.api.reset()

    def violations(self) -> list[str]:
        """Requests Warden must never make: exec/attach/proxy/..., or a verb other than GET/PATCH/DELETE
        (POST only for the two access reviews)."""
        bad = []
        for request in self.requests:
            found = _RESOURCE.match(request.path)
            sub = found.group("sub") if found else None
            review = request.method == "POST" and REVIEWS.match(request.path)
            if sub in FORBIDDEN_SUBRESOURCES or not (review or request.method in {"GET", "PATCH", "DELETE"}):
                bad.append(f"{request.method} {request.path}")
        return bad

    # --- Serving. -------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @contextmanager
    def serving(self, tls: tuple[Path, Path] | None = None) -> Iterator[FakeKube]:
        """Serve on 127.0.0.1 on a free port; `tls` is (certificate, key) PEM files to serve HTTPS."""
        kube = self
        self.tls = tls

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle_one(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    header_lists={k.lower(): self.headers.get_all(k) or [] for k in set(self.headers.keys())},
                )
                response = kube.api.dispatch(request)
                body, content_type = response.encode()
                reason = self.responses.get(response.status, ("",))[0]
                headers = {"Content-Type": content_type, **response.headers}
                if isinstance(response, Stream):
                    headers["Transfer-Encoding"] = "chunked"
                else:
                    headers["Content-Length"] = str(len(body))
                head = "\r\n".join([f"HTTP/1.1 {response.status} {reason}", *(f"{k}: {v}" for k, v in headers.items())])
                if not isinstance(response, Stream):
                    self.wfile.write(head.encode() + b"\r\n\r\n" + body)
                    return
                self.wfile.write(head.encode() + b"\r\n\r\n")
                try:
                    for chunk in response.chunks:
                        if chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._release.clear()
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._release.set()
            server.shutdown()
            server.server_close()

    # --- Client configuration. ------------------------------------------------------------------------
    def kubeconfig(
        self,
        path: Path,
        *,
        contexts: dict[str, str] | None = None,
        current: str | None = None,
        ca: Path | None = None,
    ) -> Path:
        """Write a kubeconfig for this fake. `contexts` maps context name -> bearer token."""
        contexts = contexts or {"dev": DEFAULT_TOKEN}
        self.tokens.update(contexts.values())
        cluster: dict[str, Any] = {"server": self.url}
        if ca is not None:
            cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": f"{name}-user", "user": {"token": token}} for name, token in contexts.items()],
            "contexts": [
                {"name": name, "context": {"cluster": "fake", "user": f"{name}-user", "namespace": "default"}}
                for name in contexts
            ],
            "current-context": current or next(iter(contexts)),
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # --- Routes. -----------------------------------------------------------------------------------------
    def _routes(self) -> None:
        api = self.api
        api.route("*", r".*")(
            lambda request, match: status(404, "NotFound", "the server could not find the requested resource")
        )
        api.route("*", _RESOURCE.pattern)(self._resource)
        api.route("GET", r"/version/?")(self._guarded(lambda request, match: self.version))
        api.route("GET", r"/api")(self._guarded(lambda request, match: {"kind": "APIVersions", "versions": ["v1"]}))
        api.route("GET", r"/api/v1")(self._guarded(lambda request, match: self._resource_list("", "v1")))
        api.route("GET", r"/apis")(self._guarded(lambda request, match: self._group_list()))
        api.route("GET", r"/apis/(?P<g>[^/]+)/(?P<v>[^/]+)")(
            self._guarded(lambda request, match: self._resource_list(match["g"], match["v"]))
        )

    def _guarded(self, handler: Callable[[Request, re.Match[str]], Any]) -> Callable[[Request, re.Match[str]], Any]:
        def guarded(request: Request, match: re.Match[str]) -> Any:
            early = self._before(request)
            return early if early is not None else handler(request, match)

        return guarded

    def _before(self, request: Request) -> Response | None:
        """Faults, hangs and authentication, in that order, for every request."""
        with self._lock:
            for fault in self._faults:
                method, pattern, response, times = fault
                if times > 0 and method in (request.method, "*") and pattern.search(request.path):
                    fault[3] -= 1
                    return copy.copy(response)
        for pattern, seconds in self._hangs:
            if pattern.search(request.path):
                self._release.wait(seconds)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:  # the scheme is case-insensitive
            return status(401, "Unauthorized", "Unauthorized")
        acting = request.headers.get("impersonate-user")
        if acting is not None and self.impersonable is not None and acting not in self.impersonable:
            return status(
                403,
                "Forbidden",
                f'users "{acting}" is forbidden: User "system:serviceaccount:warden:warden-kubernetes" cannot '
                'impersonate resource "users" in API group "" at the cluster scope',
            )
        return None

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for t in self.types:
            if t.group:
                groups.setdefault(t.group, [])
                if t.version not in groups[t.group]:
                    groups[t.group].append(t.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": name,
                    "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                    "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]},
                }
                for name, versions in groups.items()
            ],
        }

    def _resource_list(self, group: str, version: str) -> Response | dict[str, Any]:
        found = [t for t in self.types if t.group == group and t.version == version]
        if not found:
            return status(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for t in found:
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": list(t.verbs),
                    **({"shortNames": list(t.short)} if t.short else {}),
                    "storageVersionHash": base64.b64encode(t.plural.encode()).decode()[:12],
                }
            )
            for sub in _SUBRESOURCES.get(t.plural, ()):
                resources.append(
                    {
                        "name": f"{t.plural}/{sub}",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def _resource(self, request: Request, match: re.Match[str]) -> Response | dict[str, Any]:
        early = self._before(request)
        if early is not None:
            return early
        group = match["g"] or ""
        version = match["cv"] or match["gv"]
        namespace = unquote(match["ns"]) if match["ns"] else None
        plural, name, sub = match["plural"], match["name"], match["sub"]
        name = unquote(name) if name else None
        t = next((t for t in self.types if (t.group, t.version, t.plural) == (group, version, plural)), None)
        if t is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        watching = request.param("watch") in {"true", "1"}
        verb = {
            "GET": "get" if name else ("watch" if watching else "list"),
            "PATCH": "patch",
            "DELETE": "delete",
            "POST": "create",
        }
        verb_name = verb.get(request.method, request.method.lower())
        if sub == "log":
            verb_name = "get"
        acting = request.headers.get("impersonate-user")
        for rule_verb, rule_plural, rule_ns, rule_user in self.forbidden:
            target = f"{plural}/{sub}" if sub else plural
            if rule_user is not None and rule_user != acting:
                continue
            if rule_verb in (verb_name, "*") and rule_plural == target and rule_ns in (None, namespace):
                where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
                who = acting or "system:serviceaccount:warden:warden-kubernetes"
                return status(
                    403,
                    "Forbidden",
                    f'{target} is forbidden: User "{who}" cannot '
                    f'{verb_name} resource "{target}" in API group "{group}"{where}',
                    kind=plural,
                )
        if sub in FORBIDDEN_SUBRESOURCES:
            return status(403, "Forbidden", f"{plural}/{sub} is forbidden")
        if request.method == "POST" and t.group == "authorization.k8s.io" and name is None:
            return self._review(t, namespace, request)
        if request.method not in {"GET", "PATCH", "DELETE"}:
            return status(405, "MethodNotAllowed", f"{request.method} is not supported by this fake")
        if sub == "log":
            return self._log(namespace or "", name or "", request)
        if name is None:
            return self._watch(t, namespace, request) if watching else self._list(t, namespace, request)
        with self._lock:
            objects = self.store.setdefault((t.group, t.plural), {})
            key = (namespace or "" if t.namespaced else "", name)
            obj = objects.get(key)
            if obj is None:
                return status(404, "NotFound", f'{plural}.{group or "core"} "{name}" not found', name=name, kind=plural)
            if sub == "scale":
                if request.method == "PATCH":
                    obj["spec"]["replicas"] = int(request.json()["spec"]["replicas"])
                    obj["metadata"]["resourceVersion"] = str(next(self._rv))
                return self._scale(obj)
            if sub is not None:
                return status(404, "NotFound", "the server could not find the requested resource")
            if request.method == "PATCH":
                if request.headers.get("content-type") not in {
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                }:
                    return status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
                _merge(obj, request.json())
                obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
                obj["metadata"]["resourceVersion"] = str(next(self._rv))
                return copy.deepcopy(obj)
            if request.method == "DELETE":
                deleted = objects.pop(key)
                deleted["metadata"]["deletionTimestamp"] = deleted["metadata"]["creationTimestamp"]
                return copy.deepcopy(deleted)
            return copy.deepcopy(obj)

    def _list(self, t: FakeType, namespace: str | None, request: Request) -> dict[str, Any]:
        with self._lock:
            objects = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self.store.get((t.group, t.plural), {}).items())
                if not t.namespaced or namespace is None or ns == namespace
            ]
        labels, fields = request.param("labelSelector"), request.param("fieldSelector")
        if labels:
            objects = [o for o in objects if match_labels(o["metadata"].get("labels") or {}, labels)]
        if fields:
            objects = [o for o in objects if match_fields(o, fields)]
        start = int(base64.b64decode(request.param("continue") or "MA==").decode())
        limit = int(request.param("limit") or 0) or len(objects) or 1
        page = objects[start : start + limit]
        more = start + limit < len(objects)
        for item in page:  # list items come without kind and apiVersion, as from the real API server
            item.pop("kind", None)
            item.pop("apiVersion", None)
        metadata: dict[str, Any] = {"resourceVersion": str(next(self._rv))}
        if more:
            metadata["continue"] = base64.b64encode(str(start + limit).encode()).decode()
            metadata["remainingItemCount"] = len(objects) - start - limit
        if "as=PartialObjectMetadataList" in request.headers.get("accept", ""):  # metadata only
            partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}
            items = [{**partial, "metadata": item["metadata"]} for item in page]
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
                "items": items,
            }
        return {"kind": f"{t.kind}List", "apiVersion": t.api_version, "metadata": metadata, "items": page}

    def _watch(self, t: FakeType, namespace: str | None, request: Request) -> Stream:
        fields = request.param("fieldSelector") or ""
        name = next((f.split("=", 1)[1] for f in fields.split(",") if f.startswith("metadata.name=")), "")
        script = list(self.watch_scripts.get((t.plural, namespace or "", name), []))
        timeout = min(float(request.param("timeoutSeconds") or self.max_watch_seconds), self.max_watch_seconds)

        def chunks() -> Iterator[bytes]:
            ends = time.monotonic() + timeout
            for delay, kind, obj in script:
                if self._release.wait(delay) or time.monotonic() > ends:
                    return
                if kind != "DELETED":
                    self.add(copy.deepcopy(obj))
                yield (json.dumps({"type": kind, "object": obj}) + "\n").encode()
            self._release.wait(max(0.0, ends - time.monotonic()))

        return Stream(200, b"", {"Content-Type": "application/json"}, chunks=chunks())

    # --- Authorization: RBAC evaluated from the stored Roles and bindings, like the API server's authorizer. ---
    def identity(self, request: Request) -> tuple[str, list[str]]:
        """Who a request's bearer token is: the server's ServiceAccount, or (other tokens) a plain user."""
        token = request.headers.get("authorization", "").partition(" ")[2]
        if token == DEFAULT_TOKEN:
            return SERVER_IDENTITY
        return f"user-{token[:8]}", ["system:authenticated"]

    def grants(self, user: str, groups: list[str], namespace: str) -> Iterator[tuple[str, dict[str, Any], dict]]:
        """(why, binding subject, rule) for every rule RBAC gives `user`/`groups` in `namespace`."""
        with self._lock:
            bindings = [
                ("RoleBinding", b)
                for (ns, _), b in self.store.get(("rbac.authorization.k8s.io", "rolebindings"), {}).items()
                if ns == namespace
            ] + [
                ("ClusterRoleBinding", b)
                for b in self.store.get(("rbac.authorization.k8s.io", "clusterrolebindings"), {}).values()
            ]
            roles = self.store.get(("rbac.authorization.k8s.io", "roles"), {})
            cluster_roles = self.store.get(("rbac.authorization.k8s.io", "clusterroles"), {})
            for kind, binding in bindings:
                subject = next((s for s in binding.get("subjects") or [] if _names(s, user, groups)), None)
                ref = binding["roleRef"]
                role = (
                    roles.get((namespace, ref["name"]))
                    if ref["kind"] == "Role"
                    else cluster_roles.get(("", ref["name"]))
                )
                if subject is None or role is None:
                    continue
                meta = binding["metadata"]
                where = f"{meta['name']}/{meta['namespace']}" if kind == "RoleBinding" else meta["name"]
                who = (
                    f"{subject['name']}/{subject['namespace']}"
                    if subject["kind"] == "ServiceAccount"
                    else subject["name"]
                )
                why = f'RBAC: allowed by {kind} "{where}" of {ref["kind"]} "{ref["name"]}" to {subject["kind"]} "{who}"'
                for rule in role.get("rules") or []:
                    yield why, subject, rule

    def _review(self, t: FakeType, namespace: str | None, request: Request) -> Response | dict[str, Any]:
        body = request.json() or {}
        spec = body.get("spec") or {}
        if t.plural == "selfsubjectrulesreviews":
            user, groups = self.identity(request)
            rules = [rule for _, _, rule in self.grants(user, groups, spec.get("namespace", ""))]
            return {
                **body,
                "status": {
                    "resourceRules": [r for r in rules if "nonResourceURLs" not in r],
                    "nonResourceRules": [r for r in rules if "nonResourceURLs" in r],
                    "incomplete": False,
                },
            }
        if t.plural != "localsubjectaccessreviews":
            return status(405, "MethodNotAllowed", f"{t.plural} is not supported by this fake")
        attributes = spec.get("resourceAttributes") or {}
        if attributes.get("namespace") != namespace:
            value = attributes.get("namespace")
            return status(
                400,
                "Invalid",
                f'spec.resourceAttributes.namespace: Invalid value: "{value}": must match metadata.namespace',
            )
        if not spec.get("user") and not spec.get("groups"):
            return status(
                400, "Invalid", 'spec.user: Invalid value: "": at least one of user or group must be specified'
            )
        for why, _, rule in self.grants(spec.get("user", ""), spec.get("groups") or [], namespace or ""):
            if _allows(rule, attributes):
                return {**body, "status": {"allowed": True, "reason": why}}
        return {**body, "status": {"allowed": False}}

    def _scale(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        labels = obj["spec"]["selector"]["matchLabels"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": obj["spec"]["replicas"]},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in labels.items()),
            },
        }

    def _log(self, namespace: str, pod_name: str, request: Request) -> Response:
        pod = self.get("pods", pod_name, namespace)
        if pod is None:
            return status(404, "NotFound", f'pods "{pod_name}" not found', name=pod_name, kind="pods")
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = request.param("container")
        if container is None:
            if len(names) != 1:
                return status(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]",
                )
            container = names[0]
        previous = request.param("previous") == "true"
        text = self.logs.get((namespace, pod_name, container, previous))
        if text is None:
            if previous:
                return status(
                    400, "BadRequest", f'previous terminated container "{container}" in pod "{pod_name}" not found'
                )
            text = ""
        lines = text.splitlines(keepends=True)
        if request.param("tailLines"):
            lines = lines[-int(request.param("tailLines") or 0) :]
        data = "".join(lines).encode()
        if request.param("limitBytes"):
            data = data[: int(request.param("limitBytes") or 0)]
        pieces = [data[i : i + 65_536] for i in range(0, len(data), 65_536)]
        return Stream(200, b"", {"Content-Type": "text/plain"}, chunks=iter(pieces))


def _names(subject: dict[str, Any], user: str, groups: list[str]) -> bool:
    if subject["kind"] == "Group":
        return subject["name"] in groups
    if subject["kind"] == "ServiceAccount":
        return user == f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    return bool(user) and subject["name"] == user


def _allows(rule: dict[str, Any], attributes: dict[str, Any]) -> bool:
    resource = attributes.get("resource", "") + (
        f"/{attributes['subresource']}" if attributes.get("subresource") else ""
    )
    names = rule.get("resourceNames") or []
    return (
        bool({"*", attributes.get("verb")} & set(rule.get("verbs") or []))
        and bool({"*", attributes.get("group", "")} & set(rule.get("apiGroups") or []))
        and bool({"*", resource} & set(rule.get("resources") or []))
        and (not names or attributes.get("name") in names)
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, for serving HTTPS like a real API server."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "apiserver.crt", directory / "apiserver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
