"""The one place that talks to GitHub.

PyGithub is synchronous, so every request runs in a worker thread inside the core's
`Backend.call` (deadline, bounded retries honouring Retry-After, circuit breaker); a slow answer
never blocks the server. Requests go through PyGithub's `Requester`, its documented way to call
REST endpoints directly: it brings the base URL (GitHub Enterprise too), the token header, the
API version, connection pooling and GitHub's exception types, while each tool still makes exactly
one request per page and sees the `Link` headers it needs for cursors.

Retries are the core's job alone: PyGithub's own retry (which sleeps inside the thread on rate
limits) is replaced by one quick re-connect for connections that never opened, so the two layers
never multiply. Only the server's own token is ever sent; nothing from the MCP request reaches
GitHub but validated arguments.

Redirects are decided here, for every tool at once. GitHub answers a request about a renamed or
transferred repository with a redirect to its new home (`/repositories/<id>/...` on github.com),
and PyGithub would follow a 301 by itself, re-sending the same verb and body, a POST too. So no
request follows anything on its own (`_Exchange`): a read follows a move only to a repository
named by owner/name that the read allowlist admits, checked before the request is sent; a move
named only by id is refused, since its new name cannot be checked without asking the new home; a
write is never sent on, whatever the target.

Job logs are the one download outside the API: GitHub answers with a redirect to blob storage.
That URL is checked before any connection (https, no credentials in it, a host from
`WARDEN_GITHUB_LOG_HOSTS`, public addresses only) and fetched without the token, streaming, keeping
only the tail.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import anyio.to_thread

from warden_core import Allowlist, NotConfigured, PolicyDenied, UpstreamUnavailable, attribution
from warden_core.resilience import Backend
from warden_core.text import strip_invisible
from warden_github import __version__
from warden_github.app import AppTokens
from warden_github.errors import Redirected, from_exception, from_status
from warden_github.settings import Settings

if TYPE_CHECKING:
    import requests
    from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester, RequestsResponse

    Pool = HTTPRequestsConnectionClass | HTTPSRequestsConnectionClass

logger = logging.getLogger(__name__)

T = TypeVar("T")

API_VERSION = "2022-11-28"
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_MAX_LOG_LINE = 500
_MAX_ERROR_LINES = 20
_VISIBILITY_TTL = 300.0
_MAX_MOVES = 3  # repository moves followed for one request
_REPO_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")


def api_path(*segments: str | int) -> str:
    """An API path from segments, each percent-encoded whole (a `/` inside a segment too).

    Pass a file path as its own segments (`*path.split("/")`) to keep its slashes.
    """
    return "/" + "/".join(quote(str(segment), safe="") for segment in segments)


@dataclass(frozen=True)
class Page:
    """One answer from GitHub: its JSON and what its `Link` header says about the next page."""

    data: Any
    headers: dict[str, Any]

    @property
    def next_page(self) -> int | None:
        for url, rel in _LINK.findall(str(self.headers.get("link", ""))):
            if rel == "next":
                values = parse_qs(urlsplit(url).query).get("page")
                if values and values[-1].isdigit():
                    return int(values[-1])
        return None


@dataclass
class LogTail:
    """The end of a job log, plus its error annotations, read within a byte budget."""

    lines: list[str]
    errors: list[str]
    total_lines: int
    cut: bool = False
    notes: list[str] = field(default_factory=list)


class _Exchange:
    """How PyGithub's requester sends one request: `request(...)`, then `getresponse()`, on the client's pool.

    PyGithub accepts a connection per request (`requestJson(cnx=...)`) and otherwise uses one
    shared connection object that holds the pending request between those two calls, which
    threads running at once could swap; an exchange per request cannot be shared. It never
    follows a redirect: it raises `Redirected` and leaves the decision to `GitHubClient._request`.
    """

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._pending: tuple[str, str, Any, dict[str, str], bool] | None = None

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        self._pending = (verb, url, input, headers, stream)

    def getresponse(self) -> RequestsResponse:
        from github.Requester import RequestsResponse

        assert self._pending is not None, "PyGithub sends request() first"
        verb, path, body, headers, stream = self._pending
        pool = self._pool
        url = f"{pool.protocol}://{pool.host}:{pool.port}{path}"
        response = pool.session.request(
            verb,
            url,
            headers=headers,
            data=body,
            timeout=pool.timeout,
            verify=pool.verify,
            stream=stream,
            allow_redirects=False,
        )
        if response.is_redirect:
            response.close()
            raise Redirected(response.status_code, urljoin(url, response.headers["location"]))
        return RequestsResponse(response)

    def close(self) -> None:
        """Nothing to release: the pool outlives the exchange."""


class GitHubClient:
    def __init__(self, settings: Settings, repos: Allowlist) -> None:
        self.settings = settings
        self.repos = repos  # the read allowlist: the only places a read may be redirected to
        self.backend = Backend("GitHub", settings)
        self._lock = threading.Lock()
        self._github: Any = None
        self._pool: Pool | None = None
        self._downloads: requests.Session | None = None
        self._visibility: dict[str, tuple[float, bool]] = {}
        self.app = AppTokens(settings) if settings.app else None
        api = urlsplit(settings.api_url)
        self._api_origin = (api.scheme, (api.hostname or "").lower(), api.port)
        self._api_prefix = api.path.rstrip("/")

    # --- Set-up (lazy: importing PyGithub costs start-up time). ------------------------------------
    def _requester(self) -> tuple[Requester, Pool]:
        if self.settings.token is None and not self.settings.app:
            raise NotConfigured(Settings.env_name("token"), "the GitHub token (or a GitHub App)")
        with self._lock:
            if self._github is None:
                from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass
                from urllib3.util.retry import Retry

                from github import Auth, Github

                _route_pygithub_logs()

                timeout = max(1, round(self.settings.backend_timeout))
                # A GitHub App's tokens are per call (see app.py): the requester then holds none of its own.
                token = self.settings.token
                self._github = Github(
                    auth=Auth.Token(token.get_secret_value()) if token is not None else None,
                    base_url=self.settings.api_url,
                    timeout=timeout,
                    user_agent=f"warden-github/{__version__}",
                    per_page=30,
                    seconds_between_requests=None,
                    seconds_between_writes=self.settings.write_interval or None,
                    lazy=True,
                    api_version=API_VERSION,
                )
                scheme, host, port = self._api_origin
                pool_class = HTTPSRequestsConnectionClass if scheme == "https" else HTTPRequestsConnectionClass
                self._pool = pool_class(
                    host,
                    port,
                    timeout=timeout,
                    # One re-connect when a connection could not be opened (nothing was sent);
                    # every other retry, including rate limits, is the core's.
                    retry=Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0, raise_on_status=False),
                    pool_size=10,
                )
            assert self._pool is not None
            return self._github.requester, self._pool

    async def close(self) -> None:
        with self._lock:
            github, self._github = self._github, None
            pool, self._pool = self._pool, None
            downloads, self._downloads = self._downloads, None
        if github is not None:
            github.close()
        if pool is not None:
            pool.close()
        if downloads is not None:
            downloads.close()

    # --- Running a request. -------------------------------------------------------------------------
    async def _run(self, work: Callable[[], T], what: str, *, retry: bool = True) -> T:
        cap = self.settings.retry_after_cap

        def in_thread() -> T:
            try:
                return work()
            except Exception as exc:
                mapped = from_exception(exc, what, cap)
                if mapped is exc:
                    raise
                raise mapped from None

        async def once() -> T:
            # Abandoned on cancel, so the core's deadline holds; the thread ends within the HTTP timeout.
            return await anyio.to_thread.run_sync(in_thread, abandon_on_cancel=True)

        return await self.backend.call(once, retry=retry)

    def _request(
        self,
        verb: str,
        url: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        accept: str | None = None,
        body: Any = None,
    ) -> Page:
        """One API request, in the worker thread, following a repository move only where `_moved_to` allows.

        A redirect that is no repository move is raised as `Redirected`, for the caller to judge.
        """
        requester, pool = self._requester()
        sent = _Headers({"Accept": accept} if accept else {})
        if self.app is not None:
            sent["Authorization"] = f"token {self.app.token(self._mint)}"
        for _ in range(_MAX_MOVES + 1):
            try:
                status, headers, raw = requester.requestJson(
                    verb,
                    url,
                    parameters=params,
                    headers=_Headers(sent),
                    input=body,
                    # PyGithub types `cnx` as its own connection classes; it only calls the three methods.
                    cnx=cast(Any, _Exchange(pool)),
                )
            except Redirected as redirect:
                url = self._moved_to(verb, redirect, what)
                params = None  # the new location carries the query
                continue
            data = _json(raw, ok=status < 300, what=what)
            if status >= 300:
                raise from_status(status, headers, data, what, self.settings.retry_after_cap)
            return Page(data=data, headers=headers)
        raise UpstreamUnavailable(f"GitHub redirected the request for {what} too many times")

    def _mint(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to a GitHub App endpoint as the App (its JWT), in the worker thread."""
        assert self.app is not None
        requester, pool = self._requester()
        status, headers, raw = requester.requestJson(
            "POST",
            path,
            input=body,
            headers={"Authorization": f"Bearer {self.app.jwt()}"},
            cnx=cast(Any, _Exchange(pool)),
        )
        data = _json(raw, ok=status < 300, what="an installation token")
        if status >= 300:
            raise from_status(status, headers, data, "an installation token", self.settings.retry_after_cap)
        return cast(dict[str, Any], data)

    def _moved_to(self, verb: str, redirect: Redirected, what: str) -> str:
        """Where a request may go after GitHub redirected it; raises unless it is a read that may follow."""
        if verb != "GET":
            raise PolicyDenied(
                f"GitHub answered that {what} has moved (HTTP {redirect.status}); a write is never sent on to "
                "another location, so nothing was written. If the repository was renamed or transferred, "
                "its new name must be allowed for writes."
            )
        segments = self._repository_path(redirect.location)
        if segments is None:
            raise redirect  # not a repository move: the caller's to judge (a job log's download location)
        if any(piece in (".", "..") or "\\" in piece for segment in segments for piece in segment.split("/")):
            raise PolicyDenied(f"GitHub redirected the request for {what} to a path that climbs out of it; refused")
        setting = self.repos.setting
        if segments[0].lower() == "repositories":
            raise PolicyDenied(
                f"GitHub answered that {what} has moved (a renamed or transferred repository) and named the new "
                f"home only by its id; this server follows a move only to a repository it can check against "
                f"{setting}, so nothing was read there. If the repository was renamed, call again with its new name."
            )
        if len(segments) < 3 or not all(_REPO_SEGMENT.match(name) for name in segments[1:3]):
            raise PolicyDenied(f"GitHub redirected the request for {what} to a location this server does not follow")
        repo = f"{segments[1]}/{segments[2]}"
        if not self.repos.allows(repo):
            raise PolicyDenied(
                f"GitHub answered that {what} has moved to {repo}, which is not allowed by this server's policy "
                f"({setting}); nothing was read there"
            )
        return redirect.location

    def _repository_path(self, url: str) -> list[str] | None:
        """The decoded path segments of `url` after the API prefix, if it is a repository path of the API itself."""
        parts = urlsplit(url)
        origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        if origin != self._api_origin or parts.username or parts.password:
            return None
        if not parts.path.startswith(self._api_prefix + "/"):
            return None
        segments = [unquote(segment) for segment in parts.path[len(self._api_prefix) + 1 :].split("/")]
        return segments if segments[0].lower() in ("repos", "repositories") else None

    async def get(
        self, url: str, params: dict[str, Any] | None = None, *, what: str, accept: str | None = None
    ) -> Page:
        """GET an API path (built with `path`). Reads retry on transient failures."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return await self._run(lambda: self._request("GET", url, what, params=query, accept=accept), what)

    async def send(self, verb: str, url: str, body: dict[str, Any], *, what: str) -> Any:
        """A write: never retried, since GitHub may have acted on the first attempt; never redirected."""
        return (await self._run(lambda: self._request(verb, url, what, body=body), what, retry=False)).data

    async def is_private(self, repo: str) -> bool:
        """Whether `repo` is private (cached briefly); used to decide which writes need confirmation."""
        key = repo.lower()
        cached = self._visibility.get(key)
        if cached is not None and time.monotonic() - cached[0] < _VISIBILITY_TTL:
            return cached[1]
        owner, name = repo.split("/", 1)
        data = (await self.get(api_path("repos", owner, name), what=f"repository {repo}")).data
        private = bool(data.get("private")) and data.get("visibility", "private") == "private"
        self._visibility[key] = (time.monotonic(), private)
        return private

    # --- Job logs. ----------------------------------------------------------------------------------
    async def job_log_tail(self, repo: str, job_id: int, tail_lines: int) -> LogTail:
        """The last `tail_lines` lines of a job's log and its `##[error]` lines."""
        owner, name = repo.split("/", 1)
        what = f"the log of job {job_id} in {repo}"
        url = api_path("repos", owner, name, "actions", "jobs", job_id, "logs")

        def locate() -> str:
            try:
                self._request("GET", url, what)
            except Redirected as download:  # the answer GitHub gives: a redirect to its log storage
                return download.location
            raise UpstreamUnavailable(f"GitHub gave no download location for {what}")

        location = await self._run(locate, what)
        return await self._run(lambda: self._download_tail(location, tail_lines, what), what)

    def check_download_url(self, url: str) -> None:
        """Refuse a log URL that could reach anything but GitHub's storage (before any connection)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.username or parts.password or not host:
            raise PolicyDenied("GitHub redirected the log download to a URL with credentials or no host")
        if (parts.scheme, host, parts.port) == self._api_origin:
            return  # the API host the operator configured
        if parts.scheme != "https":
            raise PolicyDenied("GitHub redirected the log download to a non-https URL; refused")
        if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.settings.log_hosts):
            raise PolicyDenied(
                f"GitHub redirected the log download to {host}, which is not in {Settings.env_name('log_hosts')}"
            )
        for address in _addresses(host, parts.port or 443):
            if not address.is_global:
                raise PolicyDenied(f"the log host {host} resolves to a non-public address; refused")

    def _download_tail(self, url: str, tail_lines: int, what: str) -> LogTail:
        import requests

        self.check_download_url(url)
        with self._lock:
            if self._downloads is None:
                self._downloads = requests.Session()
                self._downloads.trust_env = False  # no proxies or .netrc credentials from the environment
            session = self._downloads
        timeout = (min(10.0, self.settings.backend_timeout), self.settings.backend_timeout)
        with session.get(url, stream=True, timeout=timeout, allow_redirects=False) as response:
            if response.status_code >= 400:
                raise from_status(response.status_code, dict(response.headers), None, what, 0.0)
            if response.status_code >= 300:
                raise UpstreamUnavailable(f"the log storage redirected again for {what}; refused")
            return read_tail(response.iter_content(65536), tail_lines, self.settings.max_log_bytes)


def _json(raw: str, *, ok: bool, what: str) -> Any:
    """GitHub's JSON answer; an error answer that is not JSON carries no message worth reading."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        if ok:
            raise UpstreamUnavailable(f"GitHub answered the request for {what} with something not JSON") from None
        return None


class _Headers(dict[str, str]):
    """Request headers for PyGithub that end its User-Agent with the MCP request's attribution.

    PyGithub sets `User-Agent` itself, on the headers a call passes, just before sending; this is where
    the request id and principal join it (GitHub's audit log records the User-Agent). Made for each
    attempt in the worker thread, which runs in the call's context (anyio copies it), so the request is known.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._comment = attribution.user_agent_comment()

    def __setitem__(self, key: str, value: str) -> None:
        if key.lower() == "user-agent" and self._comment:
            value = f"{value} {self._comment}"
        super().__setitem__(key, value)


def _route_pygithub_logs() -> None:
    """PyGithub gives its logger its own stderr handler at import, which would bypass Warden's redaction
    filter and print every line twice. Send its records through the root handler like every other library's,
    at the server's log level."""
    pygithub = logging.getLogger("github")
    for handler in list(pygithub.handlers):
        pygithub.removeHandler(handler)
    pygithub.setLevel(logging.NOTSET)
    pygithub.propagate = True


def _addresses(host: str, port: int) -> Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UpstreamUnavailable(f"cannot resolve the log host {host}") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def clean_log_line(raw: bytes) -> str:
    """One log line without its timestamp, colour codes or invisible characters, bounded."""
    line = raw.decode("utf-8", errors="replace").rstrip("\r")
    line = _TIMESTAMP.sub("", _ANSI.sub("", line))
    line = strip_invisible(line)
    return line if len(line) <= _MAX_LOG_LINE else line[:_MAX_LOG_LINE] + " …"


def read_tail(chunks: Iterable[bytes], tail_lines: int, max_bytes: int) -> LogTail:
    """Stream a log, keeping only its last `tail_lines` lines and its first error annotations."""
    tail: deque[str] = deque(maxlen=tail_lines)
    errors: list[str] = []
    total = 0
    size = 0
    cut = False
    partial = b""

    def take(raw: bytes) -> None:
        nonlocal total
        total += 1
        line = clean_log_line(raw)
        if "##[error]" in line and len(errors) < _MAX_ERROR_LINES:
            errors.append(line)
        tail.append(line)

    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            cut = True
            break
        *lines, partial = (partial + chunk).split(b"\n")
        for raw in lines:
            take(raw)
        if len(partial) > 64 * _MAX_LOG_LINE:  # one enormous line: keep its start only
            take(partial)
            partial = b""
    if partial and not cut:
        take(partial)
    notes = [f"stopped after {max_bytes} bytes (WARDEN_GITHUB_MAX_LOG_BYTES)"] if cut else []
    return LogTail(lines=list(tail), errors=errors, total_lines=total, cut=cut, notes=notes)
