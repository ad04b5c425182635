"""Users: find them by id, e-mail or name, and read one profile."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from warden_core import Access, ToolSpec
from warden_core.audit import note_target
from warden_core.results import Lean, Row
from warden_slack.errors import MissingScope
from warden_slack.people import display_name
from warden_slack.render import plain
from warden_slack.tools.common import Runtime

GROUP = "users"

_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")

UserId = Annotated[str, Field(description="User id, e.g. U024BE7LH.", pattern=r"^[UW][A-Z0-9]{6,20}$")]


class User(Row):
    id: str
    name: str | None = None
    display_name: str | None = None
    real_name: str | None = None
    title: str | None = None
    email: str | None = None
    tz: str | None = None
    is_bot: bool | None = None
    deleted: bool | None = None
    guest: bool | None = None


class Users(Lean):
    users: list[User]
    truncated: bool


class ProfileField(Row):
    label: str
    value: str


class Profile(User):
    status: str | None = None
    pronouns: str | None = None
    fields: list[ProfileField] | None = None
    missing_scopes: list[str] | None = None


def _user(data: dict[str, Any]) -> User:
    profile = data.get("profile") if isinstance(data.get("profile"), dict) else {}
    assert isinstance(profile, dict)

    def text(value: Any, limit: int = 80) -> str | None:
        return plain(value, limit) or None if isinstance(value, str) else None

    return User(
        id=str(data.get("id")),
        name=text(data.get("name")),
        display_name=text(profile.get("display_name")),
        real_name=text(profile.get("real_name") or data.get("real_name")),
        title=text(profile.get("title"), 120),
        email=text(profile.get("email"), 254),
        tz=text(data.get("tz"), 64),
        is_bot=True if data.get("is_bot") else None,
        deleted=True if data.get("deleted") else None,
        guest=True if data.get("is_restricted") or data.get("is_ultra_restricted") else None,
    )


def specs(rt: Runtime) -> list[ToolSpec]:
    async def find_users(
        query: Annotated[
            str,
            Field(
                description="A user id (U024BE7LH), an e-mail address, or part of a name.", min_length=1, max_length=120
            ),
        ],
        limit: Annotated[int, Field(description="Most users to return.", ge=1, le=100)] = 20,
    ) -> Users:
        query = query.strip()
        if _USER_ID.match(query):
            return Users(users=[_user(await rt.people.info(query))], truncated=False)
        if _EMAIL.match(query):
            return Users(users=[_user(await rt.people.by_email(query))], truncated=False)
        needle = query.lower().lstrip("@")
        members, complete = await rt.people.listing()
        scored: list[tuple[int, str, dict[str, Any]]] = []
        for member in members:
            profile = member.get("profile") if isinstance(member.get("profile"), dict) else {}
            assert isinstance(profile, dict)
            names = [
                str(v).lower()
                for v in (
                    member.get("name"),
                    profile.get("display_name"),
                    profile.get("real_name"),
                    member.get("real_name"),
                )
                if isinstance(v, str) and v
            ]
            if any(needle == n for n in names):
                scored.append((0, display_name(member), member))
            elif any(needle in n for n in names):
                scored.append((1, display_name(member), member))
        scored.sort(key=lambda item: (item[0], bool(item[2].get("deleted")), item[1].lower()))
        budget = rt.budget()
        users: list[User] = []
        for _, _, member in scored[:limit]:
            user = _user(member)
            if not budget.admit(user.model_dump(mode="json")):
                break
            users.append(user)
        return Users(users=users, truncated=budget.truncated or len(scored) > limit or not complete)

    async def get_user_profile(user_id: UserId) -> Profile:
        note_target(f"user:{user_id}")
        data = await rt.people.info(user_id)
        base = _user(data)
        profile = data.get("profile") if isinstance(data.get("profile"), dict) else {}
        assert isinstance(profile, dict)
        missing: list[str] = []
        fields: list[ProfileField] = []
        try:
            full = await rt.people.profile(user_id)
        except MissingScope:
            full, missing = {}, ["users.profile:read"]
        profile = {**profile, **full}
        custom = profile.get("fields") if isinstance(profile.get("fields"), dict) else {}
        assert isinstance(custom, dict)
        for value in custom.values():
            if isinstance(value, dict) and value.get("value"):
                fields.append(
                    ProfileField(label=plain(value.get("label") or "field", 60), value=plain(value["value"], 200))
                )
        status = " ".join(
            part for part in (plain(profile.get("status_emoji"), 40), plain(profile.get("status_text"), 100)) if part
        )
        return Profile(
            **base.model_dump(),
            status=status or None,
            pronouns=plain(profile.get("pronouns"), 40) or None,
            fields=fields[:30] or None,
            missing_scopes=missing or None,
        )

    read = Access.READ
    return [
        ToolSpec(
            name="slack_find_users",
            title="Find users",
            description=(
                "Find Slack users by id, e-mail address or part of a name: ids, names, title, time zone, "
                "bot/guest/deleted flags."
            ),
            group=GROUP,
            access=read,
            handler=find_users,
        ),
        ToolSpec(
            name="slack_get_user_profile",
            title="User profile",
            description=(
                "One user's profile: names, title, status, pronouns, time zone, e-mail if visible, custom fields."
            ),
            group=GROUP,
            access=read,
            handler=get_user_profile,
        ),
    ]
