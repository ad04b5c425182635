"""Untrusted text from GitHub, made safe to hand to a model.

Everything a person (or a CI job) wrote comes back through here: invisible and bidi-control
characters are stripped (`strip_invisible`), HTML comments, which GitHub renders as nothing, are
removed from Markdown bodies, and every text is bounded. Authored items carry the author's
`author_association`.

Lockdown mode (`WARDEN_GITHUB_LOCKDOWN=true`) withholds the title and body of issues, pull
requests, comments and reviews whose author's association is not OWNER, MEMBER or COLLABORATOR
(or whose login is in `WARDEN_GITHUB_LOCKDOWN_TRUSTED`). GitHub sets those associations for the
repository owner, members of the owning organization and invited collaborators: the people who
normally have push access. It is a filter against prompt injection, not an authorization boundary.
"""

from __future__ import annotations

import re
from typing import Any

from warden_core.text import strip_invisible
from warden_github.settings import Settings

TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_CUT = " … [truncated]"


def withheld_note(association: str) -> str:
    return f"[withheld by lockdown mode: author association is {association}, not OWNER/MEMBER/COLLABORATOR]"


def text(value: Any, limit: int | None = None) -> str:
    """Plain untrusted text: invisible characters removed, cut to `limit` characters."""
    if value is None:
        return ""
    cleaned = strip_invisible(str(value))
    if limit is not None and len(cleaned) > limit:
        return cleaned[: max(0, limit - len(_CUT))] + _CUT
    return cleaned


def was_cut(value: object) -> bool:
    """Whether `text` or `markdown` shortened this value."""
    return isinstance(value, str) and value.endswith(_CUT)


def opt_text(value: Any, limit: int | None = None) -> str | None:
    return None if value is None else text(value, limit)


def markdown(value: Any, limit: int | None = None) -> str:
    """A Markdown body: like `text`, and hidden HTML comments are dropped too."""
    if not value:
        return ""
    return text(_HTML_COMMENT.sub("", str(value)), limit)


def login(user: Any) -> str | None:
    if isinstance(user, dict) and user.get("login"):
        return text(user["login"], 100)
    return None


class Content:
    """The content rules of one server (lockdown on or off, trusted logins)."""

    def __init__(self, settings: Settings) -> None:
        self.lockdown = settings.lockdown
        self.trusted = frozenset(name.lower() for name in settings.lockdown_trusted)

    def withholds(self, item: dict[str, Any]) -> str | None:
        """The placeholder to show instead of this item's text, or None when it may be shown."""
        if not self.lockdown:
            return None
        association = str(item.get("author_association") or "NONE")
        author = (login(item.get("user")) or "").lower()
        if association in TRUSTED_ASSOCIATIONS or author in self.trusted:
            return None
        return withheld_note(association)

    def authored(
        self, item: dict[str, Any], *, title_limit: int = 300, body_limit: int | None = None
    ) -> dict[str, Any]:
        """Author, association, and the title/body of an authored item (or lockdown placeholders)."""
        fields: dict[str, Any] = {
            "author": login(item.get("user")),
            "author_association": str(item.get("author_association") or "NONE"),
        }
        note = self.withholds(item)
        if "title" in item:
            fields["title"] = note or text(item.get("title"), title_limit)
        if body_limit is not None:
            fields["body"] = note or markdown(item.get("body"), body_limit)
        return fields
