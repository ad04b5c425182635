"""The one place that talks to Slack: slack-sdk's `WebClient`, run in worker threads under the core's `Backend`.

`WebClient` is synchronous (urllib); `AsyncWebClient` would need aiohttp. Each request runs in a
worker thread inside `Backend.call`, which gives it a deadline, bounded retries for transient
failures (reads only) and a circuit breaker. The SDK itself retries only HTTP 429, once, waiting
the `Retry-After` Slack sent if that fits the budget; every other retry is the core's, so the two
never stack. slack-sdk is imported on first use: start-up stays fast and needs no credentials.
"""

from __future__ import annotations

import fnmatch
import functools
import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio.to_thread

from warden_core import attribution
from warden_core.errors import InvalidArgument, NotConfigured, PolicyDenied, Timeout, UpstreamUnavailable, WardenError
from warden_core.resilience import Backend
from warden_slack import __version__
from warden_slack.errors import from_slack, retry_after, transport_failure
from warden_slack.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.http_retry import RetryHandler

logger = logging.getLogger(__name__)

Which = Literal["bot", "user"]  # which of the two configured credentials


def _rate_limit_handler(max_wait: float) -> RetryHandler:
    """slack-sdk's 429 handler, bounded: one retry, and only when Slack's Retry-After fits `max_wait`.

    The stock handler sleeps whatever Slack asks (plus up to a second of jitter). A longer wait
    would outlive the call's deadline, so it is better to answer at once with "retry after N s".
    """
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    class BoundedRateLimitRetry(RateLimitErrorRetryHandler):
        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if response is None or response.status_code != 429:
                return False
            wait = retry_after(response.headers)
            return wait is None or wait <= max_wait

        def prepare_for_next_attempt(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            wait = retry_after(response.headers if response is not None else None)
            wait = 1.0 if wait is None else wait
            state.next_attempt_requested = True
            time.sleep(wait + random.uniform(0, min(0.25, wait / 10)))  # noqa: S311  (jitter, not crypto)
            state.increment_current_attempt()

    return BoundedRateLimitRetry(max_retry_count=1)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A file download answered with a redirect is refused, never followed (it would leave Slack's hosts)."""

    def redirect_request(  # noqa: PLR0917  (urllib's signature)
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise PolicyDenied("Slack redirected the file download; it is not followed (often: the token lacks files:read)")


class SlackClient:
    """Slack Web API access with the bot token (everything) and the optional user token (search)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = Backend("Slack", settings)
        self._clients: dict[Which, WebClient] = {}
        self._user_agent = ""
        self._lock = threading.Lock()
        # The SDK may wait out one Retry-After inside the backend deadline; longer waits are reported.
        self.max_rate_limit_wait = min(settings.retry_after_cap, settings.backend_timeout / 2)

    def has(self, which: Which) -> bool:
        return (self.settings.bot_token if which == "bot" else self.settings.user_token) is not None

    def setting(self, which: Which) -> str:
        return Settings.env_name(f"{which}_token")

    def _web(self, which: Which) -> WebClient:
        client = self._clients.get(which)
        if client is not None:
            return client
        secret = self.settings.bot_token if which == "bot" else self.settings.user_token
        if secret is None:
            what = "the Slack bot token" if which == "bot" else "a Slack user token (Slack allows search only with one)"
            raise NotConfigured(self.setting(which), what)
        from slack_sdk import WebClient

        with self._lock:
            client = self._clients.get(which)
            if client is None:
                client = WebClient(
                    token=secret.get_secret_value(),
                    base_url=self.settings.api_url,
                    timeout=max(1, round(self.settings.backend_timeout)),
                    retry_handlers=[_rate_limit_handler(self.max_rate_limit_wait)],
                    user_agent_suffix=f"warden-slack/{__version__}",
                )
                # The client's own headers would win over a call's: each call sets the User-Agent instead.
                self._user_agent = client.headers.pop("User-Agent")
                self._clients[which] = client
        return client

    async def read(
        self, method: str, params: Mapping[str, Any] | None = None, *, using: Which = "bot", what: str = ""
    ) -> dict[str, Any]:
        """Call a read method (form-encoded, as the SDK sends them); transient failures are retried."""
        return await self._call(method, {"params": dict(params or {})}, using=using, what=what, retry=True)

    def check_download_url(self, url: str) -> None:
        """Refuse a file URL that is not https on one of Slack's file hosts (or the configured API host)."""
        parts = urlsplit(url)
        api = urlsplit(self.settings.api_url)
        host = (parts.hostname or "").lower()
        if parts.username or parts.password or not host:
            raise PolicyDenied("the file's download URL carries credentials or no host; refused")
        if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
            return  # the API host the operator configured (a loopback fake in tests)
        if parts.scheme != "https":
            raise PolicyDenied("the file's download URL is not https; refused")
        if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.settings.file_hosts):
            raise PolicyDenied(f"the file is hosted on {host}, which is not in {Settings.env_name('file_hosts')}")

    async def download(self, url: str, *, what: str) -> bytes:
        """A file's bytes from Slack's file host, with the bot token, no redirects, at most `max_file_bytes`.

        The URL is checked before any connection; the token is sent only to a host that passed.
        """
        self.check_download_url(url)
        secret = self.settings.bot_token
        if secret is None:
            raise NotConfigured(self.setting("bot"), "the Slack bot token")
        limit = self.settings.max_file_bytes
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
        # The URL was checked above: https on a Slack file host, or the configured API host.
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret.get_secret_value()}"})  # noqa: S310

        def fetch() -> bytes:
            try:
                with opener.open(request, timeout=self.settings.backend_timeout) as response:
                    data: bytes = response.read(limit + 1)
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    raise transport_failure(exc, "the file download") from None
                raise UpstreamUnavailable(f"Slack answered HTTP {exc.code} for {what}") from None
            except (OSError, http.client.HTTPException) as exc:
                raise transport_failure(exc, "the file download") from None
            if len(data) > limit:
                raise InvalidArgument(f"{what} is larger than {Settings.env_name('max_file_bytes')} ({limit} bytes)")
            return data

        async def once() -> bytes:
            return await anyio.to_thread.run_sync(fetch, abandon_on_cancel=True)

        return await self.backend.call(once)

    async def write(self, method: str, body: Mapping[str, Any], *, what: str = "") -> dict[str, Any]:
        """Call a write method with a JSON body (booleans stay booleans). Never retried by the core.

        A 429 is still retried once by the SDK: Slack performs nothing when it throttles.
        """
        sent: list[bool] = []
        try:
            return await self._call(method, {"json": dict(body)}, using="bot", what=what, retry=False, sent=sent)
        except (UpstreamUnavailable, Timeout) as exc:
            if not sent:
                raise  # refused before sending (breaker open): nothing happened
            raise type(exc)(f"{exc.message}; the write may or may not have happened, check before retrying") from None

    async def _call(
        self,
        method: str,
        kwargs: dict[str, Any],
        *,
        using: Which,
        what: str,
        retry: bool,
        sent: list[bool] | None = None,
    ) -> dict[str, Any]:
        web = self._web(using)
        # The MCP request's attribution ends the User-Agent (Slack's access logs record it).
        agent = attribution.user_agent(self._user_agent)
        call = functools.partial(web.api_call, method, headers={"User-Agent": agent}, **kwargs)
        setting = self.setting(using)

        async def once() -> dict[str, Any]:
            from slack_sdk.errors import SlackApiError, SlackClientError

            if sent is not None:
                sent.append(True)
            try:
                # Abandon on cancel: the deadline must win over a hung socket (the SDK's timeout ends the thread).
                response = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            except SlackApiError as exc:
                raise from_slack(exc, method=method, token_setting=setting, what=what) from None
            except SlackClientError as exc:
                raise from_slack(exc, method=method, token_setting=setting, what=what) from None
            except (OSError, http.client.HTTPException) as exc:
                logger.info("Slack %s failed in transport: %s", method, type(exc).__name__)
                raise transport_failure(exc, method) from None
            data = response.data
            if not isinstance(data, dict):
                raise WardenError(f"Slack answered {method} with something that is not JSON")
            return data

        return await self.backend.call(once, retry=retry)
