"""GitHub App authentication: installation tokens, minted per call and scoped to it.

With `WARDEN_GITHUB_APP_*` set, the server holds no long-lived token. For each call it uses an
installation token DOWNSCOPED to what that call needs: the repository the call names (after the
core's allowlists and policy file admitted it for the caller), and read permissions for reads
(write permissions only for the write tool's own area). GitHub itself then refuses anything
else, whatever the server's code would do. Tokens are cached per scope and replaced a few minutes
before they expire (GitHub gives them one hour). The App's JWT is made by PyGithub.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from warden_core import UpstreamUnavailable, redaction
from warden_core.policy import current_call
from warden_core.specs import Access
from warden_github.settings import Settings

REFRESH_MARGIN = 300.0
"""Seconds before its expiry that a token is replaced."""

AREAS = {
    "repos": ("contents",),
    "git": ("contents",),
    "issues": ("issues",),
    "pull_requests": ("pull_requests", "contents"),
    "actions": ("actions",),
    "runs": ("actions",),
    "security": ("vulnerability_alerts", "security_events", "secret_scanning_alerts", "repository_advisories"),
}
"""The permissions a tool group's calls need besides metadata (the first is the one a write tool writes)."""
AREAS["actions"] = ("actions",)

Mint = Callable[[str, dict[str, Any]], dict[str, Any]]
"""POST a body to an App endpoint with the App's JWT; returns the JSON answer."""


class AppTokens:
    def __init__(self, settings: Settings) -> None:
        assert settings.app_id is not None and settings.app_private_key is not None
        from github import Auth

        self._auth = Auth.AppAuth(settings.app_id, settings.app_private_key.get_secret_value())
        self._installation = settings.app_installation_id
        self._lock = threading.Lock()
        self._tokens: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], tuple[str, float]] = {}

    def jwt(self) -> str:
        return str(self._auth.token)

    @staticmethod
    def scope() -> tuple[tuple[str, ...], dict[str, str]]:
        """Repository names and permissions for the call being handled (the read-only minimum without one)."""
        call = current_call()
        permissions = {"metadata": "read"}
        if call is None:
            return (), permissions
        spec, resources = call
        level = "read" if spec.access is Access.READ else "write"
        for area in AREAS.get(spec.group, ()):
            permissions[area] = level if area == AREAS[spec.group][0] else permissions.get(area, "read")
        repos = tuple(sorted({r.id.split("/", 1)[1] for r in resources if r.type == "Repo" and "/" in r.id}))
        return repos, permissions

    def token(self, mint: Mint) -> str:
        """An installation token for this call's scope, minted when there is none fresh enough."""
        repos, permissions = self.scope()
        key = (repos, tuple(sorted(permissions.items())))
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] - time.time() > REFRESH_MARGIN:
                return cached[0]
            body: dict[str, Any] = {"permissions": permissions}
            if repos:
                body["repositories"] = list(repos)
            answer = mint(f"/app/installations/{self._installation}/access_tokens", body)
            token, expires = answer.get("token"), answer.get("expires_at")
            if not isinstance(token, str) or not isinstance(expires, str):
                raise UpstreamUnavailable("GitHub gave no installation token")
            redaction.register_secret(token)
            if len(self._tokens) > 1024:
                self._tokens.clear()
            self._tokens[key] = (token, datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp())
            return token
