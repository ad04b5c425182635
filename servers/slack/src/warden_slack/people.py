"""Slack users: display names for message authors and mentions (cached), and user lookups.

Names are resolved with `users.info` on first sight and kept for `directory_ttl` seconds, so a
history page costs one call per new author, not one per message. A name that cannot be resolved
(missing `users:read`, deleted user, throttling) falls back to the id; it never fails the read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import anyio

from warden_core.errors import WardenError
from warden_slack.client import SlackClient
from warden_slack.errors import MissingScope
from warden_slack.render import plain
from warden_slack.settings import Settings

logger = logging.getLogger(__name__)

_MAX_NAMES = 20_000
_CONCURRENCY = 4
_PAGE = 500
_MAX_PAGES = 40


def display_name(user: dict[str, Any]) -> str:
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    for value in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"), user.get("name")):
        if isinstance(value, str) and value.strip():
            return plain(value)
    return str(user.get("id", "unknown"))


class People:
    def __init__(self, client: SlackClient, settings: Settings) -> None:
        self.client = client
        self.ttl = max(settings.directory_ttl, 1.0)
        self._names: dict[str, tuple[str, float]] = {}
        self._listing: list[dict[str, Any]] | None = None
        self._listing_complete = True
        self._listing_at = 0.0
        self._lock = anyio.Lock()
        self._no_users_read = False

    # --- Names for rendering. ---------------------------------------------------------------------
    def remember(self, user: dict[str, Any]) -> None:
        user_id = user.get("id")
        if isinstance(user_id, str):
            if len(self._names) >= _MAX_NAMES:
                self._names.pop(next(iter(self._names)))
            self._names[user_id] = (display_name(user), time.monotonic())

    def cached(self, user_id: str) -> str | None:
        entry = self._names.get(user_id)
        if entry is None or time.monotonic() - entry[1] > self.ttl:
            return None
        return entry[0]

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Display names for these ids; unknown ones are looked up (a few at a time), failures fall back to the id."""
        wanted = list(dict.fromkeys(user_ids))
        missing = [user_id for user_id in wanted if self.cached(user_id) is None]
        if missing and not self._no_users_read:
            limiter = anyio.CapacityLimiter(_CONCURRENCY)

            async def fetch(user_id: str) -> None:
                async with limiter:
                    if self._no_users_read:
                        return
                    try:
                        self.remember(await self.info(user_id))
                    except MissingScope:
                        self._no_users_read = True
                        logger.warning("the bot token lacks users:read: messages show user ids, not names")
                    except WardenError as exc:
                        logger.info("no name for %s: %s", user_id, exc.message)

            async with anyio.create_task_group() as tasks:
                for user_id in missing:
                    tasks.start_soon(fetch, user_id)
        return {user_id: self.cached(user_id) or user_id for user_id in wanted}

    # --- Lookups. ----------------------------------------------------------------------------------------
    async def info(self, user_id: str) -> dict[str, Any]:
        data = await self.client.read("users.info", {"user": user_id}, what=f"user {user_id}")
        user = data.get("user")
        if not isinstance(user, dict):
            raise WardenError("Slack answered users.info without a user")
        self.remember(user)
        return user

    async def by_email(self, email: str) -> dict[str, Any]:
        data = await self.client.read("users.lookupByEmail", {"email": email})
        user = data.get("user")
        if not isinstance(user, dict):
            raise WardenError("Slack answered users.lookupByEmail without a user")
        self.remember(user)
        return user

    async def profile(self, user_id: str) -> dict[str, Any]:
        data = await self.client.read("users.profile.get", {"user": user_id, "include_labels": True})
        profile = data.get("profile")
        return profile if isinstance(profile, dict) else {}

    async def listing(self) -> tuple[list[dict[str, Any]], bool]:
        """Every user (users.list), cached; the flag is False when the listing stopped at its page cap."""
        async with self._lock:
            if self._listing is None or time.monotonic() - self._listing_at > self.ttl:
                users: list[dict[str, Any]] = []
                cursor = ""
                complete = False
                for _ in range(_MAX_PAGES):
                    params: dict[str, Any] = {"limit": _PAGE}
                    if cursor:
                        params["cursor"] = cursor
                    data = await self.client.read("users.list", params)
                    users.extend(m for m in data.get("members") or () if isinstance(m, dict))
                    meta = data.get("response_metadata")
                    cursor = meta.get("next_cursor", "") if isinstance(meta, dict) else ""
                    if not cursor:
                        complete = True
                        break
                for user in users:
                    self.remember(user)
                self._listing, self._listing_complete, self._listing_at = users, complete, time.monotonic()
            return self._listing, self._listing_complete
