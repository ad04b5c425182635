"""Which channels the server may read: the channel directory and the read allowlist.

Slack identifies a channel by its id (`C024BE91L`); its name (`general`) can be changed by any
member with the right, so the allowlist is enforced on ids:

- an id entry (`C024BE91L`, or a glob such as `C04*`) admits matching ids with no API call;
- an exact name entry (`general`) is resolved to an id through the channel directory the first
  time the directory loads, and stays pinned to that id for the life of the process: if the
  channel is renamed it stays readable, and another channel later renamed to `general` is not;
- a name glob (`eng-*`) admits channels whose current name matches (documented as weaker).

Direct messages and group DMs are refused unless `WARDEN_SLACK_ALLOW_DMS` is on, and then still
need an allowlist entry. Whether a conversation is one is decided by its own flags (`is_im`,
`is_mpim`), never by its id's prefix: a group DM can have a `C` id like any channel, so `C*` or
`*` would otherwise admit it. Only a `D` id is always a DM, so it is refused with no call. The
flags come from the channel directory when it lists the conversation, otherwise from
`conversations.info`, asked once per conversation (its kind never changes).

A refusal decided from ids alone makes no API call at all; one that needs a name makes at most the
directory listing (`conversations.list`), and one that needs a kind at most `conversations.info`:
never a call that reads or writes the refused conversation's messages.

With a policy file (`WARDEN_SLACK_POLICY_FILE`), each channel the allowlist admits is also put to
the policy for the caller, as a `Channel` resource named by its id: a refused read fails, and a
refused channel is left out of listings and search results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

import anyio

from warden_core.cedar import Resource, entity_type
from warden_core.errors import NotFound, PolicyDenied, UpstreamUnavailable, WardenError
from warden_core.policy import Allowlist, Policy
from warden_slack.client import SlackClient
from warden_slack.errors import MissingScope
from warden_slack.render import plain
from warden_slack.settings import Settings

logger = logging.getLogger(__name__)

_TYPE_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}
# Slack asks for the read scope of a conversation's kind; when that is a DM scope, it has told the kind.
_KIND_OF_SCOPE = {"im:read": "dm", "mpim:read": "group_dm"}
_PAGE = 500
_MAX_PAGES = 40
_MISS_REFRESH = 30.0  # an unknown id may trigger a directory reload at most this often


@dataclass(frozen=True)
class Channel:
    id: str
    name: str | None = None  # None for DMs, and for ids the directory has not seen
    kind: str = "unknown"  # public, private, dm, group_dm; unknown when Slack's flags were not seen
    member: bool | None = None
    archived: bool = False
    topic: str = ""
    purpose: str = ""
    members: int | None = None
    user: str | None = None  # the other party of a DM

    @property
    def is_dm(self) -> bool:
        return self.kind in {"dm", "group_dm"} or self.id.startswith("D")

    @property
    def label(self) -> str:
        return f"#{self.name} ({self.id})" if self.name else f"channel {self.id}"

    @classmethod
    def from_api(cls, data: dict[str, object]) -> Channel:
        if data.get("is_im"):
            kind = "dm"
        elif data.get("is_mpim"):
            kind = "group_dm"
        elif "is_im" not in data and "is_mpim" not in data:
            kind = "unknown"  # without the flags, nothing says it is not a DM
        elif data.get("is_private") or data.get("is_group"):
            kind = "private"
        else:
            kind = "public"
        name = data.get("name")
        topic, purpose = data.get("topic"), data.get("purpose")
        members = data.get("num_members")
        user = data.get("user")
        return cls(
            id=str(data.get("id", "")),
            name=str(name).lower() if isinstance(name, str) and kind != "dm" else None,
            kind=kind,
            member=bool(data.get("is_member")) if "is_member" in data else None,
            archived=bool(data.get("is_archived")),
            topic=str(topic.get("value") or "") if isinstance(topic, dict) else "",
            purpose=str(purpose.get("value") or "") if isinstance(purpose, dict) else "",
            members=members if isinstance(members, int) else None,
            user=user if isinstance(user, str) else None,
        )


class ChannelDirectory:
    """The channels the bot token can see (conversations.list), cached for `directory_ttl` seconds."""

    def __init__(self, client: SlackClient, settings: Settings) -> None:
        self.client = client
        self.ttl = settings.directory_ttl
        types = ["public_channel", "private_channel"] + (["im", "mpim"] if settings.allow_dms else [])
        self.types = types
        self.missing_scopes: list[str] = []
        self.complete = True
        self._by_id: dict[str, Channel] = {}
        self._by_name: dict[str, str] = {}
        self._kinds: dict[str, str] = {}  # from conversations.info; never expires, a kind never changes
        self._loaded_at: float | None = None
        self._lock = anyio.Lock()
        self.listeners: list[ChannelGate] = []

    @property
    def loaded(self) -> bool:
        return self._loaded_at is not None

    def peek(self, channel_id: str) -> Channel | None:
        """What the directory knows now, without loading it."""
        return self._by_id.get(channel_id)

    def id_for(self, name: str) -> str | None:
        return self._by_name.get(name)

    def names(self) -> dict[str, str]:
        return {cid: ch.name for cid, ch in self._by_id.items() if ch.name}

    def channels(self) -> list[Channel]:
        return list(self._by_id.values())

    async def ensure(self) -> None:
        """Load the directory if it was never loaded or is older than the TTL."""
        if self._fresh(self.ttl):
            return
        async with self._lock:
            if not self._fresh(self.ttl):
                await self._load()

    async def get(self, channel_id: str) -> Channel | None:
        await self.ensure()
        found = self._by_id.get(channel_id)
        if found is None and not self._fresh(min(self.ttl, _MISS_REFRESH)):
            async with self._lock:
                if not self._fresh(min(self.ttl, _MISS_REFRESH)):
                    await self._load()
            found = self._by_id.get(channel_id)
        return found

    async def described(self, channel_id: str) -> Channel:
        """The conversation with its kind from Slack's own flags: the directory's entry, else conversations.info.

        The answer's kind is kept for the life of the process, so a conversation costs at most one
        extra request. Raises what Slack answered (NotFound, a missing scope) when it cannot tell.
        """
        known = self._by_id.get(channel_id)
        if known is not None and known.kind != "unknown":
            return known
        kind = self._kinds.get(channel_id)
        if kind is None:
            try:
                data = await self.client.read(
                    "conversations.info", {"channel": channel_id}, what=f"channel {channel_id}"
                )
            except MissingScope as exc:
                if exc.needed not in _KIND_OF_SCOPE:
                    raise
                kind = _KIND_OF_SCOPE[exc.needed]
            else:
                info = data.get("channel")
                kind = Channel.from_api(info if isinstance(info, dict) else {}).kind
                if kind == "unknown":
                    raise UpstreamUnavailable(f"Slack did not say what kind of conversation {channel_id} is")
            self._kinds[channel_id] = kind
        return replace(known, kind=kind) if known is not None else Channel(id=channel_id, kind=kind)

    async def by_name(self, name: str) -> Channel | None:
        await self.ensure()
        channel_id = self._by_name.get(name)
        if channel_id is None and not self._fresh(min(self.ttl, _MISS_REFRESH)):
            async with self._lock:
                if not self._fresh(min(self.ttl, _MISS_REFRESH)):
                    await self._load()
            channel_id = self._by_name.get(name)
        return self._by_id.get(channel_id) if channel_id else None

    def _fresh(self, max_age: float) -> bool:
        return self._loaded_at is not None and time.monotonic() - self._loaded_at < max_age

    async def _load(self) -> None:
        types = [t for t in self.types if _TYPE_SCOPES[t] not in self.missing_scopes]
        while True:
            try:
                found, complete = await self._list(types)
                break
            except MissingScope as exc:
                # "As the token allows": drop the channel types whose read scope is missing, say so, go on.
                needed = {scope.strip() for scope in exc.needed.split(",") if scope.strip()}
                dropped = [t for t in types if _TYPE_SCOPES[t] in needed]
                if not dropped or len(dropped) == len(types):
                    raise
                logger.warning("Slack token lacks %s: listing without %s", sorted(needed), dropped)
                self.missing_scopes.extend(sorted(_TYPE_SCOPES[t] for t in dropped))
                types = [t for t in types if t not in dropped]
        self._by_id = {channel.id: channel for channel in found}
        self._by_name = {channel.name: channel.id for channel in found if channel.name}
        self.complete = complete
        self._loaded_at = time.monotonic()
        for gate in self.listeners:
            gate.pin(self)

    async def _list(self, types: list[str]) -> tuple[list[Channel], bool]:
        found: list[Channel] = []
        cursor = ""
        for _ in range(_MAX_PAGES):
            params = {"types": ",".join(types), "exclude_archived": True, "limit": _PAGE}
            if cursor:
                params["cursor"] = cursor
            data = await self.client.read("conversations.list", params)
            for item in data.get("channels") or ():
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    found.append(Channel.from_api(item))
            cursor = _next_cursor(data)
            if not cursor:
                return found, True
        logger.warning("channel directory stopped after %d pages; some channels are not resolvable", _MAX_PAGES)
        return found, False


def _next_cursor(data: dict[str, object]) -> str:
    meta = data.get("response_metadata")
    cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
    return cursor if isinstance(cursor, str) else ""


class ChannelGate:
    """The read allowlist (`WARDEN_SLACK_CHANNELS`), decided on ids."""

    def __init__(self, settings: Settings, directory: ChannelDirectory) -> None:
        self.policy: Policy | None = None  # set by build_server: the core's gate, for the policy file
        self.setting = Settings.env_name("channels")
        self.allow_dms = settings.allow_dms
        self.directory = directory
        ids = tuple(entry for entry in settings.channels if not entry.startswith("#"))
        names = [entry[1:] for entry in settings.channels if entry.startswith("#")]
        self.ids = Allowlist(self.setting, ids)
        self.exact = frozenset(name for name in names if not any(ch in name for ch in "*?["))
        self.globs = Allowlist(self.setting, tuple(n for n in names if n not in self.exact), case_sensitive=False)
        self.pins: dict[str, str] = {}
        directory.listeners.append(self)

    @property
    def configured(self) -> bool:
        return self.ids.configured or bool(self.exact) or self.globs.configured

    @property
    def by_name(self) -> bool:
        return bool(self.exact) or self.globs.configured

    def pin(self, directory: ChannelDirectory) -> None:
        """Bind each exact name entry to the id it names, the first time the directory shows it."""
        for name in self.exact - self.pins.keys():
            channel_id = directory.id_for(name)
            if channel_id is not None:
                self.pins[name] = channel_id
        for name, channel_id in self.pins.items():
            current = directory.peek(channel_id)
            holder = directory.id_for(name)
            if holder is not None and holder != channel_id:
                logger.warning(
                    "channel name %r now belongs to %s, but the allowlist stays pinned to %s", name, holder, channel_id
                )
            elif current is not None and current.name != name:
                logger.info("allowlisted channel %s was renamed from %r; it stays allowed", channel_id, name)

    def admits(self, channel: Channel) -> bool:
        """The decision itself (no I/O): DMs only when enabled (a kind not known counts as one); then id,
        pinned name, or name glob."""
        if (channel.is_dm or channel.kind == "unknown") and not self.allow_dms:
            return False
        if self.ids.allows(channel.id) or channel.id in self.pins.values():
            return True
        return channel.name is not None and self.globs.allows(channel.name)

    def permits(self, channel: Channel) -> bool:
        """`admits`, and the policy file lets the caller read it (no I/O; for listings and search results)."""
        if not self.admits(channel):
            return False
        try:
            self._ask_policy(channel)
        except PolicyDenied:
            return False
        return True

    def _ask_policy(self, channel: Channel) -> None:
        """The policy file's say on this caller reading `channel`: per-principal channel rules.

        The allowlist above is decided here, in the server, because a channel is named by id or by
        name; the policy file decides on the id it resolved to, as for the write tools' `channel`.
        """
        if self.policy is not None:
            self.policy.check_resources([Resource(entity_type("channels"), channel.id)])

    def deny(self, ref: str) -> PolicyDenied:
        return PolicyDenied(f"channel {ref!r} is not allowed by this server's policy ({self.setting})")

    def deny_dm(self) -> PolicyDenied:
        return dms_off()

    async def readable(self, ref: str) -> Channel:
        """The allowed channel `ref` (an id or a name) names, or PolicyDenied / NotFound."""
        channel = await self._admitted(ref)
        self._ask_policy(channel)
        return channel

    async def _admitted(self, ref: str) -> Channel:
        if not self.configured:
            raise self.deny(ref)
        if ref[:1] in "CGD" and ref[1:].isalnum() and ref.isupper():
            return await self._by_id(ref)
        name = ref.removeprefix("#").lower()
        if not (self.globs.allows(name) or name in self.exact or self.ids.configured or self.pins):
            raise self.deny(ref)  # nothing could admit it: refuse without resolving the name
        channel = await self.directory.by_name(name)
        if channel is None:
            raise NotFound(f"no channel named #{plain(name)} is visible to the Slack app; use its id")
        if not self.admits(channel):
            raise self.deny(ref)
        return channel

    async def _by_id(self, channel_id: str) -> Channel:
        if channel_id.startswith("D") and not self.allow_dms:
            raise self.deny_dm()  # a D id is always a DM: refused with no call
        if self.ids.allows(channel_id):
            return await unless_dm(self.directory, channel_id, allow_dms=self.allow_dms)
        if not self.by_name:
            raise self.deny(channel_id)  # decided from the id alone: no API call
        channel = await self.directory.get(channel_id)
        if channel is None or not self.admits(channel):
            raise self.deny(channel_id)
        return channel

    async def filter(self, candidates: Iterable[Channel]) -> dict[str, Channel]:
        """The admitted subset of channels found elsewhere (search results), keyed by id. Never raises.

        Search results carry Slack's flags for each conversation; one without them is described
        (`ChannelDirectory.described`) before it can be admitted, and dropped if Slack cannot say.
        """
        result: dict[str, Channel] = {}
        if not self.configured:
            return result
        if self.by_name:
            await self.directory.ensure()
        for candidate in candidates:
            if candidate.id in result:
                continue
            channel = self.directory.peek(candidate.id) or candidate
            if channel.kind == "unknown" and not self.allow_dms:
                try:
                    channel = await self.directory.described(channel.id)
                except WardenError:
                    continue
            if self.permits(channel):
                result[channel.id] = channel
        return result


async def unless_dm(directory: ChannelDirectory, channel_id: str, *, allow_dms: bool) -> Channel:
    """The conversation `channel_id` names, refused when it is a DM or group DM and those are off.

    Used for reads admitted by id and for every write (the core checked the write allowlist): a `D`
    id is refused with no call; any other id by the conversation's own flags.
    """
    if allow_dms:
        return directory.peek(channel_id) or Channel(id=channel_id)
    if channel_id.startswith("D"):
        raise dms_off()
    channel = await directory.described(channel_id)
    if channel.is_dm:
        raise dms_off()
    return channel


def dms_off() -> PolicyDenied:
    return PolicyDenied(f"direct messages and group DMs are off ({Settings.env_name('allow_dms')})")
