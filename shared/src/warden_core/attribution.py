"""Who is asking, told to the backend where it records its callers, so its own logs lead back to Warden's.

Each backend request made for an MCP request carries that request's id (the `request_id` of its
audit event) and its principal:
- PostgreSQL: the session's `application_name` (pg_stat_activity, `%a` in log_line_prefix, pgaudit),
  set for the transaction inside the server-authored session start;
- GitHub, Slack, Kubernetes and AWS: a comment at the end of the User-Agent, which GitHub's audit
  log, the Kubernetes audit event (`userAgent`) and CloudTrail (`userAgent`) record;
- Kubernetes also takes an `Audit-ID` header as the id of the request's audit event.

The values are Warden's own (its request id, or the client's JSON-RPC id over stdio; the
authenticated principal), never tool input, and they are cut down to a plain alphabet before use,
so no caller-chosen text can break out of a SQL literal or a header.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from warden_core import audit

_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+=-]")
_MAX = 64
APPLICATION_NAME_BYTES = 63
"""PostgreSQL keeps this much of application_name (NAMEDATALEN - 1) and drops the rest."""


def _plain(value: object) -> str:
    return _UNSAFE.sub("_", str(value))[:_MAX]


@dataclass(frozen=True)
class Caller:
    """The MCP request a backend request is made for, in plain characters."""

    request_id: str
    principal: str
    end_user: str | None = None


def caller() -> Caller | None:
    """The request being handled (from its audit record), or None outside one (a readiness probe)."""
    record = audit.current()
    if record is None:
        return None
    # Acting for an end user is for trusted gateways; the record carries one only when that exists.
    end_user = getattr(record, "end_user", None)
    return Caller(_plain(record.request_id), _plain(record.principal), _plain(end_user) if end_user else None)


def application_name(server: str) -> str | None:
    """`<server>/<request id>/<principal>`, within PostgreSQL's 63 bytes; None outside a request."""
    who = caller()
    if who is None:
        return None
    name = f"{server}/{who.request_id}/{who.principal}"
    if who.end_user:
        name += f"/{who.end_user}"
    return name[:APPLICATION_NAME_BYTES]


def user_agent_comment() -> str | None:
    """`(request=<id>; principal=<principal>)`, to end a User-Agent with; None outside a request."""
    who = caller()
    if who is None:
        return None
    parts = [f"request={who.request_id}", f"principal={who.principal}"]
    if who.end_user:
        parts.append(f"end_user={who.end_user}")
    return "(" + "; ".join(parts) + ")"


def user_agent(base: str) -> str:
    """`base`, followed by the request's comment when there is a request."""
    comment = user_agent_comment()
    return f"{base} {comment}" if comment else base


def audit_id() -> str | None:
    """A unique id for one backend request, that starts with the MCP request's id (Kubernetes `Audit-ID`)."""
    who = caller()
    if who is None:
        return None
    return f"{who.request_id}-{uuid.uuid4().hex[:12]}"
