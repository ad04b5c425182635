"""Slack text made safe to show a model, and the model's text made safe to post.

Incoming message text is untrusted. Slack encodes mentions and links as markup (`<@U123>`,
`<!channel>`, `<https://x|label>`); shown raw, an agent could copy `<!channel>` into a post and
ping a whole channel, or follow a link planted by whoever wrote the message. So:

- invisible and bidi-control characters are removed;
- mentions become plain names (`@Alice`, `@channel`, `#general`), never markup;
- links become inert text: `label (hxxps://example[.]com/path)`, which no client fetches or
  previews, and no Slack client turns back into a link;
- every message is capped.

Outgoing text has `&`, `<` and `>` escaped, so nothing the agent writes can become a mention or a
link in Slack's markup (Slack's own escaping rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from warden_core.errors import InvalidArgument
from warden_core.text import INERT_SCHEMES, defang, defang_links, strip_invisible

_MARKUP = re.compile(r"<([^<>\n]{1,3000})>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]{0,20}):")
_SPACES = re.compile(r"\s+")
_WINDOW = re.compile(r"^(\d{1,5})([mhdw])$")
_SLACK_TS = re.compile(r"^\d{9,10}(?:\.\d{1,6})?$")
_PERMALINK = re.compile(
    r"^https://(?:[a-z0-9-]+\.)*(?:slack\.com|slack-gov\.com)/archives/([CGD][A-Z0-9]{2,})/p(\d{10})(\d{6})$"
)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPECIAL = {"channel", "here", "everyone"}


def _line(value: object, limit: int) -> str:
    text = _SPACES.sub(" ", strip_invisible(str(value or ""))).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(value: object, limit: int = 80) -> str:
    """A short single-line label from untrusted text (a name, a title, a topic), markup neutralized too.

    Display names are not markup in Slack, but one spelled `<!channel>` would look like it to a reader.
    """
    return _line(render_text(str(value or ""), {}, {}), limit)


def _link(target: str, label: str) -> str:
    scheme_match = _SCHEME.match(target)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme in INERT_SCHEMES:
        shown = defang(target)
        bare = target.split("://", 1)[-1]
        return shown if not label or label in {target, bare} else f"{label} ({shown})"
    if scheme in {"mailto", "tel"}:
        address = target[len(scheme) + 1 :]
        return address if not label or label == address else f"{label} ({address})"
    return f"{label} ({scheme} link)" if label else f"({scheme} link)"


def mentioned_users(text: str) -> set[str]:
    """User ids mentioned in raw Slack text (`<@U123>`)."""
    return set(_MENTION.findall(text or ""))


def _unescape(text: str) -> str:
    # Slack escapes exactly these three; &amp; last so "&amp;lt;" stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_text(text: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """Slack message text as inert plain text, with user and channel names resolved."""
    # Unescape first: markup typed literally by a user ("&lt;!channel&gt;") is neutralized like the real thing.
    text = _unescape(strip_invisible(text or ""))

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        label = _line(label, 300)
        if target.startswith("@"):
            user = target[1:]
            return "@" + _line(users.get(user) or label.lstrip("@") or user, 80)
        if target.startswith("#"):
            channel = target[1:]
            return "#" + _line(label.lstrip("#") or channels.get(channel) or channel, 80)
        if target.startswith("!"):
            keyword = target[1:].split("^", 1)[0]
            if keyword in _SPECIAL:
                return "@" + keyword
            if keyword == "subteam":
                return "@" + _line(label.lstrip("@") or "usergroup", 80)
            return label or keyword
        if _SCHEME.match(target):
            return _link(target, label)
        return match.group(0)  # "a <b> c" in prose or code: not markup

    text = _MARKUP.sub(replace, text)
    # Links Slack did not wrap (inside code blocks, or in labels) are defanged too.
    return defang_links(text)


def inert(text: str) -> str:
    """The text of a file or canvas, as data: invisible characters removed and links defanged.

    Unlike message text, a file is not Slack markup, so nothing is unescaped or resolved.
    """
    return defang_links(strip_invisible(text))


def escape_outgoing(text: str) -> str:
    """Text for chat.postMessage: no invisible characters, and no markup the agent did not mean literally."""
    return strip_invisible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cap(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit] + " …", True


# --- Time. ------------------------------------------------------------------------------------------
def ts_to_iso(ts: str | None) -> str | None:
    try:
        seconds = float(ts) if ts else None
    except ValueError:
        return None
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_when(value: str, *, now: datetime | None = None, argument: str = "time") -> str:
    """`1d`, `12h`, `30m`, `2w` (that long ago), an ISO date or date-time, or a Slack ts -> a Slack ts."""
    value = value.strip()
    now = now or datetime.now(UTC)
    window = _WINDOW.match(value)
    if window:
        moment = now - timedelta(seconds=int(window.group(1)) * _UNITS[window.group(2)])
    elif _SLACK_TS.match(value):
        return f"{float(value):.6f}"
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                f"{argument} must be a window like 1d, 7d, 12h or 30m, an ISO date (2024-05-01) or date-time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.6f}"


def parse_permalink(url: str) -> tuple[str, str, str | None]:
    """A message permalink -> (channel id, message ts, thread ts or None). Nothing is fetched."""
    parts = urlsplit(url.strip())
    match = _PERMALINK.match(f"{parts.scheme}://{parts.netloc}{parts.path}")
    if match is None:
        raise InvalidArgument(
            "not a Slack message permalink; expected https://<workspace>.slack.com/archives/<channel id>/p<16 digits>"
        )
    channel, seconds, micros = match.groups()
    thread = parse_qs(parts.query).get("thread_ts", [None])[0]
    if thread is not None and not _SLACK_TS.match(thread):
        thread = None
    return channel, f"{seconds}.{micros}", thread


def unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
