"""Writes: post, reply in a thread, react. Off by default; only to channels in the write allowlist.

Every post is sent with `unfurl_links=false` and `unfurl_media=false`: when Slack unfurls a link,
its servers fetch the URL, so a link carrying data would leak it without anyone clicking (the
exfiltration channel of security.md R-31). `link_names=false`, `parse=none` and escaping `&<>`
keep the agent's text from turning into @channel pings or disguised links.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from warden_core import Access, ToolSpec
from warden_core.audit import note_target
from warden_core.errors import WardenError
from warden_core.results import Lean
from warden_slack.gate import unless_dm
from warden_slack.render import escape_outgoing
from warden_slack.tools.common import ChannelId, MessageTs, Runtime

GROUP = "messages"

PostText = Annotated[
    str,
    Field(
        description="Text (Slack mrkdwn: *bold*, _italic_, `code`); mentions and link markup are sent literally.",
        min_length=1,
        max_length=4000,
    ),
]
Emoji = Annotated[
    str,
    Field(
        description="Emoji name without colons, e.g. thumbsup or white_check_mark.",
        pattern=r"^:?[a-z0-9_+'\-]{1,80}(?:::skin-tone-[2-6])?:?$",
    ),
]

# The fields that make a post inert, sent with every chat.postMessage.
SAFE_POST: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False, "link_names": False, "parse": "none"}


class Posted(Lean):
    channel: str
    ts: str
    thread_ts: str | None = None


class Reacted(Lean):
    channel: str
    ts: str
    emoji: str
    already: bool | None = None


def specs(rt: Runtime) -> list[ToolSpec]:
    async def post(channel: str, text: str, thread_ts: str | None) -> Posted:
        target = await unless_dm(rt.directory, channel, allow_dms=rt.settings.allow_dms)
        note_target(f"channel:{target.id}")
        body: dict[str, Any] = {"channel": target.id, "text": escape_outgoing(text), **SAFE_POST}
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
            body["reply_broadcast"] = False
        data = await rt.client.write("chat.postMessage", body, what=target.label)
        ts = str(data.get("ts") or "")
        return Posted(channel=target.id, ts=ts, thread_ts=thread_ts)

    async def post_message(channel: ChannelId, text: PostText) -> Posted:
        return await post(channel, text, None)

    async def reply_in_thread(channel: ChannelId, thread_ts: MessageTs, text: PostText) -> Posted:
        return await post(channel, text, thread_ts)

    async def add_reaction(channel: ChannelId, ts: MessageTs, emoji: Emoji) -> Reacted:
        target = await unless_dm(rt.directory, channel, allow_dms=rt.settings.allow_dms)
        note_target(f"channel:{target.id}")
        name = emoji.strip(":")
        body = {"channel": target.id, "timestamp": ts, "name": name}
        try:
            await rt.client.write("reactions.add", body, what=target.label)
        except WardenError as exc:
            if getattr(exc, "slack_code", None) != "already_reacted":
                raise
            return Reacted(channel=target.id, ts=ts, emoji=name, already=True)
        return Reacted(channel=target.id, ts=ts, emoji=name)

    write = Access.WRITE
    targets = {"channel": "write_channels"}
    return [
        ToolSpec(
            name="slack_post_message",
            title="Post a message",
            description=(
                "Post a new message to a channel this server may write to (by channel id). Link previews are off "
                "and mentions are not interpreted. Returns the new message's ts."
            ),
            group=GROUP,
            access=write,
            handler=post_message,
            resource_args=targets,
        ),
        ToolSpec(
            name="slack_reply_in_thread",
            title="Reply in a thread",
            description=(
                "Reply in the thread of message thread_ts, in a channel this server may write to. Link previews "
                "are off and mentions are not interpreted. Returns the reply's ts."
            ),
            group=GROUP,
            access=write,
            handler=reply_in_thread,
            resource_args=targets,
        ),
        ToolSpec(
            name="slack_add_reaction",
            title="Add a reaction",
            description="Add an emoji reaction to message ts in a channel this server may write to.",
            group=GROUP,
            access=write,
            handler=add_reaction,
            idempotent=True,
            resource_args=targets,
        ),
    ]
