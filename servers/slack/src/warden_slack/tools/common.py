"""What every tool group shares: the runtime (client, directory, gate, people), output models, formatting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from warden_core.caps import Budget
from warden_core.errors import InvalidArgument
from warden_core.results import Row
from warden_slack.client import SlackClient
from warden_slack.gate import Channel, ChannelDirectory, ChannelGate
from warden_slack.people import People
from warden_slack.render import cap, mentioned_users, plain, render_text, ts_to_iso, unique
from warden_slack.settings import Settings

# --- Argument types (module level: the SDK resolves handler annotations against module globals). ----
ChannelRef = Annotated[
    str,
    Field(
        description="Channel id (C024BE91L) or name (#general).",
        pattern=r"^(?:[CGD][A-Z0-9]{6,20}|#?[^\s#<>@|,*?]{1,80})$",
    ),
]
ChannelId = Annotated[str, Field(description="Channel id, e.g. C024BE91L.", pattern=r"^[CGD][A-Z0-9]{6,20}$")]
MessageTs = Annotated[
    str, Field(description="Message timestamp (ts), e.g. 1715000000.123456.", pattern=r"^\d{9,10}\.\d{6}$")
]
Cursor = Annotated[
    str | None,
    Field(description="next_cursor from the previous page.", pattern=r"^[sto]:[A-Za-z0-9+/=_.:\-]{1,600}$"),
]

BUDGET_MARGIN = 1024  # room for the envelope around the items


class ChannelOut(Row):
    id: str
    name: str | None = None


class Message(Row):
    ts: str = Field(description="The message's id, for threads and reactions.")
    time: str | None = None
    author: str | None = None
    author_id: str | None = None
    text: str = Field(description="Untrusted: mentions are plain names, links inert.")
    thread_ts: str | None = None
    reply_count: int | None = None
    reactions: list[str] | None = None
    files: list[str] | None = None
    subtype: str | None = None
    edited: bool | None = None
    text_truncated: bool | None = None


@dataclass
class Runtime:
    settings: Settings
    client: SlackClient
    directory: ChannelDirectory
    gate: ChannelGate
    people: People

    def budget(self) -> Budget:
        return Budget(self.settings.max_output_bytes - BUDGET_MARGIN)

    async def messages(self, raw: list[Any], budget: Budget) -> list[Message]:
        """Slack messages as compact `Message`s, names resolved, until the budget is spent."""
        items = [m for m in raw if isinstance(m, dict)]
        authors = [m.get("user") for m in items if isinstance(m.get("user"), str)]
        mentions = [u for m in items for u in sorted(mentioned_users(str(m.get("text") or "")))]
        names = await self.people.names(unique([*authors, *mentions]))
        channels = self.directory.names()
        out: list[Message] = []
        for item in items:
            message = self.message(item, names, channels)
            if not budget.admit(message.model_dump(mode="json")):
                break
            out.append(message)
        return out

    def message(self, item: dict[str, Any], names: dict[str, str], channels: dict[str, str]) -> Message:
        text = str(item.get("text") or "")
        if not text.strip():
            # Bot posts often carry everything in attachments; their fallback text is the readable part.
            parts = [
                str(a.get("fallback") or a.get("text") or "")
                for a in item.get("attachments") or ()
                if isinstance(a, dict)
            ]
            text = "\n".join(p for p in parts[:5] if p)
        rendered, truncated = cap(render_text(text, names, channels), self.settings.max_message_chars)
        user = item.get("user") if isinstance(item.get("user"), str) else None
        bot = item.get("bot_profile") if isinstance(item.get("bot_profile"), dict) else {}
        assert isinstance(bot, dict)
        author = names.get(user) if user else None
        if author is None and (bot.get("name") or item.get("username")):
            author = plain(bot.get("name") or item.get("username"))
        ts = str(item.get("ts") or "")
        thread_ts = item.get("thread_ts") if isinstance(item.get("thread_ts"), str) else None
        reactions = [
            f"{plain(r.get('name'), 40)} {int(r.get('count') or 0)}"
            for r in item.get("reactions") or ()
            if isinstance(r, dict)
        ]
        files = [
            f"{plain(f.get('name') or f.get('title') or 'file', 120)} ({plain(f.get('id'), 24)})"
            if f.get("id")
            else plain(f.get("name") or f.get("title") or "file", 120)
            for f in item.get("files") or ()
            if isinstance(f, dict)
        ]
        reply_count = item.get("reply_count")
        subtype = item.get("subtype")
        return Message(
            ts=ts,
            time=ts_to_iso(ts),
            author=author,
            author_id=user or (item.get("bot_id") if isinstance(item.get("bot_id"), str) else None),
            text=rendered,
            thread_ts=thread_ts if thread_ts and thread_ts != ts else None,
            reply_count=reply_count if isinstance(reply_count, int) and reply_count > 0 else None,
            reactions=reactions[:20] or None,
            files=files[:20] or None,
            subtype=plain(subtype, 40) if isinstance(subtype, str) else None,
            edited=True if item.get("edited") else None,
            text_truncated=truncated or None,
        )


def channel_out(channel: Channel) -> ChannelOut:
    return ChannelOut(id=channel.id, name=channel.name)


def split_cursor(cursor: str | None, allowed: str) -> tuple[str, str] | None:
    """`s:<slack cursor>`, `t:<ts>` or `o:<offset>` -> (kind, value); a kind the tool does not use is refused."""
    if cursor is None:
        return None
    kind, _, value = cursor.partition(":")
    if kind not in allowed or not value:
        raise InvalidArgument("cursor does not belong to this tool; pass next_cursor from this tool's last page")
    return kind, value


def next_cursor(data: dict[str, Any]) -> str | None:
    meta = data.get("response_metadata")
    cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
    return f"s:{cursor}" if isinstance(cursor, str) and cursor else None
