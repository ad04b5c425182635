"""The one place that talks to the Kubernetes API server.

It uses the official `kubernetes` client (imported on first use, never at start): its config
loaders (kubeconfig with exec/OIDC plugins, or the in-cluster ServiceAccount with token refresh)
and its `ApiClient` for authentication, TLS and pooled connections. Requests run in worker threads
inside the core `Backend.call` (deadline, bounded retries, circuit breaker). Measured against
`kubernetes.aio`, the sync client in a thread costs the same per call (about 1.1 ms against a loopback
fake), imports faster and keeps a bounded connection pool, so it is the one used.

Every request goes through `_request`, which only lets the verbs Warden needs through: GET on
resources, discovery and `/version`; PATCH on a workload or its `scale` subresource; DELETE on a
pod; POST of the two access reviews k8s_access asks (they answer a question and store nothing).
There is no code path for exec, attach, port-forward, proxy or any other subresource.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio

from warden_core import (
    Backend,
    InvalidArgument,
    NotConfigured,
    NotFound,
    Retryable,
    Timeout,
    UpstreamUnavailable,
    WardenError,
    attribution,
    identity,
)
from warden_core.auth import Principal
from warden_core.text import strip_invisible
from warden_kubernetes import errors
from warden_kubernetes.kinds import POD, ResourceType, builtin, match, split_kind
from warden_kubernetes.masking import Masker
from warden_kubernetes.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_DISCOVERY_TTL = 300.0
_REDISCOVER_AFTER = 30.0
_CONNECT_TIMEOUT = 5.0
_LOAD_TIMEOUT = 30.0
_READABLE_SUBRESOURCES = {None, "log", "scale"}
_WORKLOAD_PLURALS = {"deployments", "statefulsets", "daemonsets"}
_API_PATH = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[a-z0-9.-]+)/(?P<gv>[a-z0-9]+))(?P<rest>(?:/[^/]+)*)$")
_SECRETS = re.compile(r"^/api/v1/(?:namespaces/[^/]+/)?secrets(?:/|$)")
_REVIEWS = re.compile(
    r"^/apis/authorization\.k8s\.io/v1/(?:selfsubjectrulesreviews|namespaces/[a-z0-9][-a-z0-9]{0,62}/localsubjectaccessreviews)$"
)
# A list of objects' metadata only (what `kubectl get -o name` asks for), or the full list from an old server.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@dataclass(frozen=True)
class InCluster:
    """Where a pod finds its ServiceAccount credential (overridable for tests)."""

    token_file: Path = SERVICE_ACCOUNT / "token"
    ca_file: Path = SERVICE_ACCOUNT / "ca.crt"
    environ: Mapping[str, str] | None = None  # None: the process environment, read by the kubernetes library


@dataclass
class Connection:
    """One cluster the server talks to: an `ApiClient` for one kubeconfig context, or in-cluster."""

    context: str | None
    mode: str
    api: Any
    discovered: list[ResourceType] | None = None
    discovered_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def label(self) -> str:
        return self.context or "in-cluster"


@dataclass
class LogRead:
    lines: deque[str]
    lines_read: int = 0
    matched: int = 0
    dropped: int = 0
    bytes_read: int = 0
    read_capped: bool = False


def check_request(method: str, path: str) -> None:
    """Refuse anything but the requests Warden makes (defence in depth: no exec/attach/proxy/...)."""
    if path in {"/version", "/api", "/apis"}:
        if method != "GET":
            raise RuntimeError(f"refused {method} {path}")
        return
    if method == "POST":
        if _REVIEWS.match(path):
            return
        raise RuntimeError(f"refused {method} {path}")
    found = _API_PATH.match(path)
    if not found:
        raise RuntimeError(f"refused request to {path!r}: not a Kubernetes API path")
    rest = [segment for segment in found.group("rest").split("/") if segment]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if len(rest) > 3:
        raise RuntimeError(f"refused request to {path!r}")
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub not in _READABLE_SUBRESOURCES:
        raise RuntimeError(f"refused request to subresource {sub!r}")
    if method == "GET":
        return
    if method == "PATCH" and name and (sub == "scale" or (sub is None and plural in _WORKLOAD_PLURALS)):
        return
    if method == "DELETE" and plural == "pods" and name and sub is None:
        return
    raise RuntimeError(f"refused {method} {path}")


def check_helm_secrets(method: str, path: str, query: Iterable[tuple[str, str]]) -> None:
    """With the helm group on, the server may read Secrets (RBAC cannot grant by label), and reads only Helm
    release records: a list whose label selector starts with `owner=helm`. Anything else is refused here."""
    if not _SECRETS.match(path):
        return
    params = dict(query)
    if method != "GET" or not path.endswith("/secrets") or "watch" in params:
        raise RuntimeError(f"refused {method} {path}: Secrets are read only as Helm releases")
    if params.get("labelSelector", "").split(",")[0] != "owner=helm":
        raise RuntimeError(f"refused {path} without labelSelector owner=helm: Secrets are read only as Helm releases")


class KubeClient:
    def __init__(
        self,
        settings: Settings,
        masker: Masker,
        backend: Backend,
        incluster: InCluster | None = None,
    ) -> None:
        self.settings = settings
        self.masker = masker
        self.backend = backend
        self.incluster = incluster or InCluster()
        self._connections: dict[str | None, Connection] = {}
        self._lock = threading.Lock()
        self._mode: str | None = None
        self.default_context: str | None = None
        self.helm_secrets_only = False  # set by build_server when the helm group is exposed

    # --- Running requests. ------------------------------------------------------------------------
    async def run(self, fn: Callable[[], T], *, what: str, retry: bool = True) -> T:
        """Run `fn` (blocking client code) in a worker thread under the backend's deadline and retries."""

        guarded = self._guard(fn, what)

        async def once() -> T:
            return await anyio.to_thread.run_sync(guarded, abandon_on_cancel=True)

        return await self.backend.call(once, retry=retry)

    def _guard(self, fn: Callable[[], T], what: str) -> Callable[[], T]:
        """`fn`, with the client's exceptions translated into the core's (in the worker thread)."""

        def guarded() -> T:
            try:
                return fn()
            except (WardenError, Retryable, TimeoutError):
                raise
            except Exception as exc:
                translated = errors.from_exception(exc, what, self.masker)
                if translated is exc:
                    raise
                raise translated from None

        return guarded

    # --- Connections. -------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """`kubeconfig` or `in-cluster` (decided once, from the settings and the pod's files)."""
        if self._mode is None:
            if self.settings.kubeconfig:
                self._mode = "kubeconfig"
            elif self.incluster.token_file.exists():
                self._mode = "in-cluster"
            else:
                self._mode = "kubeconfig"
        return self._mode

    async def connection(self, context: str | None, check_default: Callable[[str], None]) -> Connection:
        """The connection for `context` (None: the default one), loading the credential on first use.

        `check_default` vets the default context once its name is known (the context allowlist), so a
        kubeconfig whose current-context changed cannot steer the server to another cluster.
        """
        if context is not None and self.mode == "in-cluster":
            raise InvalidArgument("this server uses its in-cluster ServiceAccount; omit `context`")
        cached = self._connections.get(context)
        if cached is not None:
            return cached
        # Not under the backend's deadline and breaker: the first load imports the client (~0.5 s) and may
        # run a kubeconfig exec plugin, and a bad kubeconfig is a configuration error, not an outage.
        try:
            with anyio.fail_after(_LOAD_TIMEOUT):
                return await anyio.to_thread.run_sync(
                    self._guard(lambda: self._load(context, check_default), "the Kubernetes credential"),
                    abandon_on_cancel=True,
                )
        except TimeoutError:
            raise Timeout(f"loading the Kubernetes credential took longer than {_LOAD_TIMEOUT:g} s") from None
        except Retryable as exc:
            raise UpstreamUnavailable(f"loading the Kubernetes credential failed: {exc}") from None

    def _load(self, context: str | None, check_default: Callable[[str], None]) -> Connection:
        with self._lock:
            if context in self._connections:
                return self._connections[context]
            from kubernetes import client as k8s_client
            from kubernetes import config as k8s_config_module

            k8s: Any = k8s_client  # the package ships py.typed, but its loaders are untyped
            k8s_config: Any = k8s_config_module
            conf = k8s.Configuration()
            if self.mode == "in-cluster":
                from kubernetes.config import incluster_config

                loader: Any = incluster_config.InClusterConfigLoader
                kwargs: dict[str, Any] = {
                    "token_filename": str(self.incluster.token_file),
                    "cert_filename": str(self.incluster.ca_file),
                }
                if self.incluster.environ is not None:
                    kwargs["environ"] = self.incluster.environ
                loader(**kwargs).load_and_set(conf)
                name = None
            else:
                path = self.settings.kubeconfig
                known, active = k8s_config.list_kube_config_contexts(config_file=path)
                name = context or self.settings.context or (str(active["name"]) if active else None)
                if name is None:
                    raise NotConfigured(
                        "WARDEN_KUBERNETES_CONTEXT", "a kubeconfig context (the file has no current-context)"
                    )
                if name not in {str(item.get("name")) for item in known or ()}:
                    setting = "the `context` argument" if context else "WARDEN_KUBERNETES_CONTEXT or current-context"
                    raise InvalidArgument(f"the kubeconfig has no context {name!r} ({setting})")
                if context is None:
                    check_default(name)
                k8s_config.load_kube_config(
                    config_file=path, context=name, client_configuration=conf, persist_config=False
                )
            conf.retries = False  # the core retries; urllib3's own retries would multiply deadlines
            self._register_credentials(conf)
            hook: Any = getattr(conf, "refresh_api_key_hook", None)
            if hook is not None:

                def refresh(configuration: Any) -> None:
                    hook(configuration)
                    self._register_credentials(configuration)

                conf.refresh_api_key_hook = refresh
            api = k8s.ApiClient(conf)
            api.user_agent = "warden-kubernetes/0.1 (read-mostly MCP server)"
            connection = Connection(context=name, mode=self.mode, api=api)
            self._connections[context] = connection
            if context is None:
                self.default_context = name
                if name is not None:
                    self._connections.setdefault(name, connection)
            return connection

    def _register_credentials(self, conf: Any) -> None:
        for value in (conf.api_key or {}).values():
            if isinstance(value, str):
                self.masker.register(value)
                self.masker.register(value.split(" ", 1)[-1])
        for value in (conf.password, conf.access_token):
            if isinstance(value, str):
                self.masker.register(value)

    def contexts(self) -> list[str]:
        """Context names in the kubeconfig (names only: nothing else of the file ever leaves)."""
        if self.mode == "in-cluster":
            return []
        from kubernetes import config as k8s_config_module

        k8s_config: Any = k8s_config_module
        found, _ = k8s_config.list_kube_config_contexts(config_file=self.settings.kubeconfig)
        return sorted(str(item["name"]) for item in found)

    async def aclose(self) -> None:
        for connection in {id(c): c for c in self._connections.values()}.values():
            try:
                connection.api.close()
            except Exception as exc:  # closing must never fail the shutdown
                logger.debug("closing the kubernetes client failed: %s", exc)
        self._connections.clear()

    # --- HTTP. ----------------------------------------------------------------------------------------
    def _request(
        self,
        conn: Connection,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        read_timeout: float | None = None,
        accept: str = "application/json",
    ) -> Any:
        check_request(method, path)
        query = list(query)
        if self.helm_secrets_only:
            check_helm_secrets(method, path, query)
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        api = conn.api
        verb, url, header_params, payload, post = api.param_serialize(
            method, path, query_params=query, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        _attribute(header_params)
        if self.settings.impersonate:
            header_params = self._impersonation(header_params)
        timeout = (_CONNECT_TIMEOUT, read_timeout or self.settings.backend_timeout)
        return api.call_api(verb, url, header_params, payload, post, _request_timeout=timeout).response

    def _impersonation(self, headers: dict[str, str]) -> Any:
        """The request's headers, acting as the call's principal (runs in the worker thread, whose context
        is the call's). Each group is its own Impersonate-Group header, as the API server reads them."""
        from urllib3 import HTTPHeaderDict

        user = impersonated(identity.current(), self.settings)
        if user is None:
            return headers
        name, groups = user
        merged = HTTPHeaderDict(headers)
        merged["Impersonate-User"] = name
        for group in groups:
            merged.add("Impersonate-Group", group)
        return merged

    def _json(self, conn: Connection, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(conn, method, path, **kwargs)
        try:
            data = response.read()
        finally:
            response.release_conn()
        if not 200 <= response.status < 300:
            raise self._failure(conn, response, data, what)
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            raise Retryable("the API server sent a malformed answer") from None
        if not isinstance(parsed, dict):
            raise Retryable("the API server sent a malformed answer")
        return parsed

    def _failure(self, conn: Connection, response: Any, data: bytes, what: str) -> Exception:
        if response.status == 403 and self.settings.impersonate:
            user = impersonated(identity.current(), self.settings)
            if user is not None:
                return errors.impersonation_denied(user[0], data, what, self.masker)
        if response.status == 401:
            # The credential expired or was rotated (e.g. a `kubectl create token` kubeconfig): load it
            # again on the next call instead of failing until a restart.
            with self._lock:
                for key in [key for key, value in self._connections.items() if value is conn]:
                    del self._connections[key]
        return errors.from_status(response.status, data, response.headers, what, self.masker)

    def get_json(self, conn: Connection, path: str, what: str, query: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        return self._json(conn, "GET", path, what, query=query)

    # --- Reads. -------------------------------------------------------------------------------------------
    async def get(self, conn: Connection, rt: ResourceType, name: str, namespace: str | None) -> dict[str, Any]:
        what = _describe(rt, name, namespace)
        obj = await self.run(lambda: self.get_json(conn, rt.item(name, namespace), what), what=what)
        return _with_kind(obj, rt)

    async def list_page(
        self,
        conn: Connection,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 250,
        cont: str | None = None,
        metadata_only: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a list: its items (with kind filled in) and the continue token, if any.

        `metadata_only` asks for the items' metadata alone (a server that cannot still sends whole objects).
        """
        query = [("limit", str(limit))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if cont:
            query.append(("continue", cont))
        what = _describe(rt, None, namespace)
        accept = METADATA_ONLY if metadata_only else "application/json"
        data = await self.run(
            lambda: self._json(conn, "GET", rt.collection(namespace), what, query=query, accept=accept), what=what
        )
        items = [_with_kind(item, rt) for item in data.get("items") or [] if isinstance(item, dict)]
        token = (data.get("metadata") or {}).get("continue") or None
        return items, token

    async def version(self, conn: Connection) -> dict[str, Any]:
        return await self.run(lambda: self.get_json(conn, "/version", "the server version"), what="the server version")

    # --- Discovery. ------------------------------------------------------------------------------------
    async def resolve(self, conn: Connection, kind: str) -> ResourceType:
        """The resource type `kind` names: built-ins from the table, everything else by discovery."""
        found = builtin(kind)
        if found is not None:
            return found
        return await self.run(lambda: self._resolve(conn, kind), what="API discovery")

    def _resolve(self, conn: Connection, kind: str) -> ResourceType:
        with conn.lock:
            now = time.monotonic()
            fresh = conn.discovered is not None and now - conn.discovered_at < _DISCOVERY_TTL
            if fresh and conn.discovered is not None:
                found = match(conn.discovered, kind)
                if found is not None or now - conn.discovered_at < _REDISCOVER_AFTER:
                    return _readable(found, kind)
            conn.discovered = self._discover(conn)
            conn.discovered_at = time.monotonic()
            return _readable(match(conn.discovered, kind), kind)

    def _discover(self, conn: Connection) -> list[ResourceType]:
        found: list[ResourceType] = []
        core = self.get_json(conn, "/api/v1", "API discovery")
        found += _resources("", "v1", core)
        groups = self.get_json(conn, "/apis", "API discovery").get("groups") or []
        for group in groups:
            name = str(group.get("name", ""))
            preferred = (group.get("preferredVersion") or {}).get("version")
            if not name or not preferred:
                continue
            try:
                listing = self.get_json(conn, f"/apis/{name}/{preferred}", "API discovery")
            except (WardenError, Retryable) as exc:  # one broken aggregated API must not hide the others
                logger.info("discovery of %s/%s failed: %s", name, preferred, exc)
                continue
            found += _resources(name, str(preferred), listing)
        return found

    # --- Watches. --------------------------------------------------------------------------------------
    def watch(
        self,
        conn: Connection,
        *,
        rt: ResourceType,
        namespace: str,
        name: str,
        resource_version: str,
        seconds: int,
        on_object: Callable[[dict[str, Any]], bool],
    ) -> str:
        """Watch one object for up to `seconds`; `on_object` returns True to stop. Returns the last resourceVersion."""
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(seconds)),
            ("allowWatchBookmarks", "true"),
        ]
        what = _describe(rt, name, namespace)
        response = self._request(conn, "GET", rt.collection(namespace), query=query, read_timeout=seconds + 5)
        if response.status != 200:
            data = response.read()
            response.release_conn()
            raise self._failure(conn, response, data, what)
        stopped = False
        try:
            for line in _lines(response):
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise errors.from_status(410, obj, None, what, self.masker)
                    raise errors.from_status(int(obj.get("code") or 500), obj, None, what, self.masker)
                resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
                if event.get("type") == "DELETED":
                    raise NotFound(f"{what} was deleted while waiting")
                if event.get("type") in {"ADDED", "MODIFIED"} and on_object(_with_kind(obj, rt)):
                    stopped = True
                    break
        finally:
            if stopped:
                response.close()
            response.release_conn()
        return resource_version

    # --- Logs. ------------------------------------------------------------------------------------------
    def read_log(
        self,
        conn: Connection,
        *,
        namespace: str,
        pod: str,
        query: list[tuple[str, str]],
        keep_bytes: int,
        keep: Callable[[str], bool],
    ) -> LogRead:
        """Stream a pod log, masked as a stream, keeping the newest lines that pass `keep` within `keep_bytes`.

        Reading stops after `log_read_bytes`; memory stays bounded whatever the pod wrote.
        """
        path = f"{POD.item(pod, namespace)}/log"
        what = f"the log of pod {namespace}/{pod}"
        response = self._request(conn, "GET", path, query=query)
        if response.status != 200:
            data = response.read()
            response.release_conn()
            raise self._failure(conn, response, data, what)
        result = LogRead(lines=deque())
        kept_bytes = 0
        cap = self.settings.log_read_bytes
        complete = True
        # Masked as a stream before any line is selected: a private key spans lines, and grep or the
        # byte cap must only ever see its masked form.
        masked = self.masker.lines()

        def keep_lines(lines: list[str]) -> None:
            nonlocal kept_bytes
            for line in lines:
                kept_bytes += self._keep_line(result, line, keep)
                while kept_bytes > keep_bytes and result.lines:
                    kept_bytes -= len(result.lines.popleft().encode()) + 1
                    result.dropped += 1

        try:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            pending = ""
            for chunk in response.stream(65_536):
                result.bytes_read += len(chunk)
                text = pending + decoder.decode(chunk)
                *complete_lines, pending = text.split("\n")
                for raw in complete_lines:
                    keep_lines(masked.feed(strip_invisible(raw.rstrip("\r"))))
                if result.bytes_read >= cap:
                    result.read_capped = True
                    complete = False
                    break
            if complete and pending:
                keep_lines(masked.feed(strip_invisible(pending.rstrip("\r"))))
            keep_lines(masked.close())
        finally:
            if not complete:
                response.close()
            response.release_conn()
        return result

    @staticmethod
    def _keep_line(result: LogRead, line: str, keep: Callable[[str], bool]) -> int:
        result.lines_read += 1
        if not keep(line):
            return 0
        result.matched += 1
        result.lines.append(line)
        return len(line.encode()) + 1

    # --- Writes. ------------------------------------------------------------------------------------------
    async def patch(
        self, conn: Connection, path: str, body: dict[str, Any], what: str, content_type: str
    ) -> dict[str, Any]:
        return await self.run(
            lambda: self._json(conn, "PATCH", path, what, body=body, content_type=content_type), what=what, retry=False
        )

    async def delete(self, conn: Connection, path: str, what: str) -> dict[str, Any]:
        return await self.run(lambda: self._json(conn, "DELETE", path, what), what=what, retry=False)

    # --- Access reviews (a `create` that changes nothing: the API server answers and stores nothing). ---------
    async def review(self, conn: Connection, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        return await self.run(
            lambda: self._json(conn, "POST", path, what, body=body, content_type="application/json"), what=what
        )


def impersonated(principal: Principal, settings: Settings) -> tuple[str, list[str]] | None:
    """The user and groups a call acts as, or None for the server's own identity (the local user, probes).

    Groups pass only when `impersonate_groups` admits them, and never `system:*` (system:masters ...).
    """
    if principal.end_user is None and principal.kind in ("local", "anonymous"):
        return None
    allowed = settings.impersonate_groups
    groups = sorted(
        g
        for g in principal.acting_groups
        if not g.startswith("system:") and any(fnmatch.fnmatchcase(g, pattern) for pattern in allowed)
    )
    return settings.impersonate_user_prefix + principal.acting_name, groups


def _attribute(headers: dict[str, str]) -> None:
    """Name the MCP request in the API server's audit event: its `userAgent`, and its `auditID` (`Audit-ID`).

    The API server takes a client's Audit-ID as the event's id; each request gets its own, starting
    with the MCP request's id.
    """
    headers["User-Agent"] = attribution.user_agent(headers.get("User-Agent", ""))
    audit_id = attribution.audit_id()
    if audit_id is not None:
        headers["Audit-ID"] = audit_id


def _describe(rt: ResourceType, name: str | None, namespace: str | None) -> str:
    where = f" in namespace {namespace}" if namespace and rt.namespaced else ""
    return f"{rt.kind} {name!r}{where}" if name else f"{rt.plural}{where}"


def _with_kind(obj: dict[str, Any], rt: ResourceType) -> dict[str, Any]:
    """List items come without kind/apiVersion; fill them in so masking knows what it holds."""
    if "kind" not in obj or "apiVersion" not in obj:
        obj = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    return obj


def _resources(group: str, version: str, listing: dict[str, Any]) -> list[ResourceType]:
    found = []
    for item in listing.get("resources") or []:
        name = str(item.get("name", ""))
        if not name or "/" in name:  # subresources (pods/exec, pods/log, ...) are never listed
            continue
        found.append(
            ResourceType(
                group=group,
                version=version,
                plural=name,
                kind=str(item.get("kind", "")),
                namespaced=bool(item.get("namespaced")),
                singular=str(item.get("singularName") or ""),
                short_names=tuple(str(s) for s in item.get("shortNames") or ()),
                verbs=tuple(str(v) for v in item.get("verbs") or ()),
            )
        )
    return found


def _readable(found: ResourceType | None, kind: str) -> ResourceType:
    if found is None:
        name, group = split_kind(kind)
        hint = f" in API group {group!r}" if group else ""
        raise NotFound(
            f"the cluster serves no resource kind {name!r}{hint}; list customresourcedefinitions to see the CRDs it has"
        )
    if not found.readable():
        raise InvalidArgument(f"{found.kind} ({found.qualified}) cannot be listed or read")
    return found


def _lines(response: Any) -> Iterable[str]:
    """Lines of a streamed (chunked) response as they arrive."""
    pending = b""
    for chunk in response.stream(None):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.decode("utf-8", "replace")
    if pending.strip():
        yield pending.decode("utf-8", "replace")
