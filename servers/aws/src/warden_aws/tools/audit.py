"""Who did what: CloudTrail management events by principal, event name or resource, in a time window.

Each event is a reviewed subset of what CloudTrail records: who (user name and identity type, ARN),
what (event name and source), on what (resource types and names), when, from where (source IP,
user agent), whether it was a read, and the error if it failed. The raw event document is never
forwarded: its request parameters and response elements can hold anything a caller sent or got
back (a function's environment, a policy, a password on a console sign-in failure).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.render import plain, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor, Region
from warden_aws.tools.inventory import _resume, _short
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible
from warden_core.results import Lean, Row

Name = Annotated[str | None, Field(min_length=1, max_length=2000)]
Principal = Annotated[Name, Field(description="User or role session name.")]
EventName = Annotated[Name, Field(description="API call, e.g. DeleteBucket.")]
Resource = Annotated[Name, Field(description="Resource name or ARN.")]
SinceHours = Annotated[int, Field(description="Window start, hours ago.", ge=1, le=2160)]
UntilHours = Annotated[int, Field(description="Window end, hours ago.", ge=0, le=2160)]
EventPageSize = Annotated[int, Field(description="Events per page.", ge=1, le=50)]


class Event(Row):
    time: str | None = None
    event: str
    source: str | None = None
    principal: str | None = None
    identity: str | None = None
    read_only: bool | None = None
    resources: list[str]
    source_ip: str | None = None
    user_agent: str | None = None
    error: str | None = None


class Events(Lean):
    region: str
    events: list[Event]
    truncated: bool
    next_cursor: str | None = None


def _event(raw: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    try:
        parsed = json.loads(raw.get("CloudTrailEvent") or "{}")
        detail = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    who: dict[str, Any] = detail["userIdentity"] if isinstance(detail.get("userIdentity"), dict) else {}
    identity = " ".join(str(part) for part in (who.get("type"), who.get("arn")) if part) or None
    error = " ".join(str(part) for part in (detail.get("errorCode"), detail.get("errorMessage")) if part) or None
    read_only = raw.get("ReadOnly")
    return Event(
        time=plain(raw.get("EventTime")),
        event=strip_invisible(str(raw.get("EventName") or "")),
        source=raw.get("EventSource"),
        principal=_short(raw.get("Username"), 200),
        identity=_short(identity, 300),
        read_only=read_only == "true" if isinstance(read_only, str) else None,
        resources=[
            _short(f"{r.get('ResourceType') or '?'} {r.get('ResourceName') or '?'}", 300) or "?"
            for r in (raw.get("Resources") or [])[:10]
        ],
        source_ip=_short(detail.get("sourceIPAddress"), 100),
        user_agent=_short(detail.get("userAgent"), 200),
        error=_short(error, 300),
    ).model_dump()


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    async def cloudtrail_events(
        *,
        principal: Principal = None,
        event_name: EventName = None,
        resource: Resource = None,
        since_hours: SinceHours = 24,
        until_hours: UntilHours = 0,
        region: Region = None,
        page_size: EventPageSize = 50,
        cursor: Cursor = None,
    ) -> Events:
        if since_hours <= until_hours:
            raise InvalidArgument("since_hours must be larger than until_hours")
        now = dt.datetime.now(dt.UTC)
        # CloudTrail looks up one attribute per request: the most selective goes to AWS, the others filter here.
        wanted = [("ResourceName", resource), ("Username", principal), ("EventName", event_name)]
        given = [(key, value) for key, value in wanted if value is not None]
        params: dict[str, Any] = {
            "StartTime": now - dt.timedelta(hours=since_hours),
            "EndTime": now - dt.timedelta(hours=until_hours),
            "MaxResults": page_size,
        }
        if given:
            params["LookupAttributes"] = [{"AttributeKey": given[0][0], "AttributeValue": given[0][1]}]
        skip, token = _resume(cursor, "cloudtrail_events")
        if token:
            params["NextToken"] = token
        answer, _, chosen = await aws.call("cloudtrail", "LookupEvents", params, region, curated=True)

        def matches(raw: dict[str, Any]) -> bool:
            seen: dict[str, set[Any]] = {
                "ResourceName": {str(r.get("ResourceName")) for r in raw.get("Resources") or []},
                "Username": {raw.get("Username")},
                "EventName": {raw.get("EventName")},
            }
            return all(value in seen[key] for key, value in given[1:])

        items = [_event(raw) for raw in answer.get("Events") or [] if matches(raw)]
        kept, truncated, next_cursor = take_page(
            items,
            kind="cloudtrail_events",
            budget=Budget(max(1024, settings.max_output_bytes - 2048)),
            skip=skip,
            token=token,
            next_token=answer.get("NextToken"),
        )
        return Events(region=chosen, events=[Event(**e) for e in kept], truncated=truncated, next_cursor=next_cursor)

    return [
        ToolSpec(
            name="aws_cloudtrail_events",
            title="CloudTrail events",
            description=(
                "Who did what: CloudTrail events in one region, newest first, in a time window, by principal, "
                "event name or resource."
            ),
            group="audit",
            access=Access.READ,
            handler=cloudtrail_events,
            resource_args={"region": "regions"},
        )
    ]
