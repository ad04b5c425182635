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
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread

from warden_core import NotConfigured, PolicyDenied, UpstreamUnavailable, attribution
from warden_core.resilience import Backend
from warden_core.text import strip_invisible
from warden_github import __version__
from warden_github.errors import from_exception, from_status
from warden_github.settings import Settings

if TYPE_CHECKING:
    import requests
    from github.Requester import Requester

logger = logging.getLogger(__name__)

T = TypeVar("T")

API_VERSION = "2022-11-28"
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_MAX_LOG_LINE = 500
_MAX_ERROR_LINES = 20
_VISIBILITY_TTL = 300.0


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


class GitHubClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = Backend("GitHub", settings)
        self._lock = threading.Lock()
        self._github: Any = None
        self._downloads: requests.Session | None = None
        self._visibility: dict[str, tuple[float, bool]] = {}
        api = urlsplit(settings.api_url)
        self._api_origin = (api.scheme, (api.hostname or "").lower(), api.port)

    # --- Set-up (lazy: importing PyGithub costs start-up time). ------------------------------------
    def _requester(self) -> Requester:
        if self.settings.token is None:
            raise NotConfigured(Settings.env_name("token"), "the GitHub token")
        with self._lock:
            if self._github is None:
                from urllib3.util.retry import Retry

                from github import Auth, Github

                _route_pygithub_logs()

                self._github = Github(
                    auth=Auth.Token(self.settings.token.get_secret_value()),
                    base_url=self.settings.api_url,
                    timeout=max(1, round(self.settings.backend_timeout)),
                    user_agent=f"warden-github/{__version__}",
                    per_page=30,
                    # One re-connect when a connection could not be opened (nothing was sent);
                    # every other retry, including rate limits, is the core's.
                    retry=Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0, raise_on_status=False),
                    pool_size=10,
                    seconds_between_requests=None,
                    seconds_between_writes=self.settings.write_interval or None,
                    lazy=True,
                    api_version=API_VERSION,
                )
            return self._github.requester  # type: ignore[no-any-return]

    async def close(self) -> None:
        with self._lock:
            github, self._github = self._github, None
            downloads, self._downloads = self._downloads, None
        if github is not None:
            github.close()
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

    async def get(
        self, url: str, params: dict[str, Any] | None = None, *, what: str, accept: str | None = None
    ) -> Page:
        """GET an API path (built with `path`). Reads retry on transient failures."""
        requester = self._requester()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        headers = _Headers({"Accept": accept} if accept else {})

        def work() -> Page:
            response_headers, data = requester.requestJsonAndCheck("GET", url, parameters=query, headers=headers)
            return Page(data=data, headers=response_headers)

        return await self._run(work, what)

    async def send(self, verb: str, url: str, body: dict[str, Any], *, what: str) -> Any:
        """A write: never retried, since GitHub may have acted on the first attempt."""
        requester = self._requester()

        headers = _Headers()

        def work() -> Any:
            return requester.requestJsonAndCheck(verb, url, input=body, headers=headers)[1]

        return await self._run(work, what, retry=False)

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
        requester = self._requester()
        url = api_path("repos", owner, name, "actions", "jobs", job_id, "logs")
        cap = self.settings.retry_after_cap

        attributed = _Headers()

        def locate() -> str:
            status, headers, data = requester.requestJson("GET", url, headers=attributed)
            if status >= 400:
                try:
                    body = json.loads(data) if isinstance(data, str) and data.startswith("{") else None
                except ValueError:
                    body = None
                raise from_status(status, headers, body, what, cap)
            location = headers.get("location")
            if status not in (301, 302, 303, 307, 308) or not location:
                raise UpstreamUnavailable(f"GitHub gave no download location for {what}")
            return str(location)

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


class _Headers(dict[str, str]):
    """Request headers for PyGithub that end its User-Agent with the MCP request's attribution.

    PyGithub sets `User-Agent` itself, on the headers a call passes, just before sending; this is where
    the request id and principal join it (GitHub's audit log records the User-Agent). Made in the
    event loop, where the request is known, and reused by every attempt of the call.
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
