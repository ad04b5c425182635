"""Message search. Slack offers it only to user tokens; results are cut down to the allowed channels."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_core import Access, ToolSpec
from warden_core.audit import note_target
from warden_core.errors import InvalidArgument, NotConfigured
from warden_core.results import Lean
from warden_slack.gate import Channel
from warden_slack.settings import Settings
from warden_slack.tools.common import ChannelOut, ChannelRef, Message, Runtime, channel_out

GROUP = "search"

_PERMALINK = re.compile(
    r"^https://(?:[a-z0-9-]+\.)*(?:slack\.com|slack-gov\.com)/archives/[CGD][A-Z0-9]+/p\d{16}(\?[\w=.&%-]*)?$"
)
_SORTS = {"relevance": ("score", "desc"), "newest": ("timestamp", "desc"), "oldest": ("timestamp", "asc")}


class Match(Message):
    channel: ChannelOut
    permalink: str | None = None


class SearchResults(Lean):
    matches: list[Match]
    page: int
    pages: int
    truncated: bool


def specs(rt: Runtime) -> list[ToolSpec]:
    async def search_messages(
        query: Annotated[
            str,
            Field(
                description="Slack search query, e.g. `deploy from:@alice after:2024-05-01`.",
                min_length=1,
                max_length=500,
            ),
        ],
        channel: Annotated[ChannelRef | None, Field(description="Search only this allowed channel.")] = None,
        sort: Annotated[Literal["relevance", "newest", "oldest"], Field(description="Result order.")] = "relevance",
        count: Annotated[int, Field(description="Results per page, before filtering.", ge=1, le=100)] = 20,
        page: Annotated[int, Field(description="Page number, from 1.", ge=1, le=100)] = 1,
    ) -> SearchResults:
        if not rt.client.has("user"):
            raise NotConfigured(
                Settings.env_name("user_token"), "message search (Slack allows search.messages only with a user token)"
            )
        if not rt.gate.configured:
            raise rt.gate.deny("*")
        text = query
        if channel is not None:
            target = await rt.gate.readable(channel)
            if target.name is None:
                target = await rt.directory.get(target.id) or target
            if target.name is None:
                raise InvalidArgument("cannot scope a search to a channel without a name; search without `channel`")
            note_target(f"channel:{target.id}")
            text = f"{query} in:#{target.name}"
        order, direction = _SORTS[sort]
        params = {"query": text, "count": count, "page": page, "sort": order, "sort_dir": direction, "highlight": False}
        data = await rt.client.read("search.messages", params, using="user")
        block = data.get("messages") if isinstance(data.get("messages"), dict) else {}
        assert isinstance(block, dict)
        raw = [m for m in block.get("matches") or () if isinstance(m, dict) and isinstance(m.get("channel"), dict)]
        allowed = await rt.gate.filter(Channel.from_api(m["channel"]) for m in raw)
        kept = [m for m in raw if m["channel"].get("id") in allowed]
        budget = rt.budget()
        names = await rt.people.names(str(m["user"]) for m in kept if isinstance(m.get("user"), str))
        channels = rt.directory.names()
        matches: list[Match] = []
        for item in kept:
            base = rt.message(item, names, channels)
            link = item.get("permalink")
            match = Match(
                **base.model_dump(),
                channel=channel_out(allowed[item["channel"]["id"]]),
                permalink=link if isinstance(link, str) and _PERMALINK.match(link) else None,
            )
            if not budget.admit(match.model_dump(mode="json")):
                break
            matches.append(match)
        paging: Any = block.get("paging") if isinstance(block.get("paging"), dict) else {}
        pages = paging.get("pages") if isinstance(paging.get("pages"), int) else page
        return SearchResults(matches=matches, page=page, pages=max(pages, 0), truncated=budget.truncated)

    return [
        ToolSpec(
            name="slack_search_messages",
            title="Search messages",
            description=(
                "Search messages with Slack's syntax (from:@user, in:#channel, after:2024-05-01, has:link). Only "
                "matches in allowed channels are returned, so a page can hold fewer than `count`."
            ),
            group=GROUP,
            access=Access.READ,
            handler=search_messages,
        )
    ]
