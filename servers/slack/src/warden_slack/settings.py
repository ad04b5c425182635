"""Settings of warden-slack, read from `WARDEN_SLACK_*` environment variables."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from warden_core import CommaList, CoreSettings
from warden_core.settings import ApiBaseUrl

# A channel id (or a glob over ids): C... public/private, G... legacy private or group DM, D... DM.
ID_PATTERN = re.compile(r"^(?:\*|[CGD][A-Z0-9*?]*)$")

_TOKEN_KINDS = {"bot_token": ("xoxb-", "a bot token (xoxb-...)"), "user_token": ("xoxp-", "a user token (xoxp-...)")}


class Settings(CoreSettings):
    """Slack for AI agents: read the channels you allow, post only where you allow."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_SLACK_")  # the rest is inherited from CoreSettings
    server_name: ClassVar[str] = "slack"
    default_port: ClassVar[int] = 8104
    required: ClassVar[tuple[str, ...]] = ("bot_token", "channels")

    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...) used for every call except search.")
    user_token: SecretStr | None = Field(
        None, description="Optional user token (xoxp-...) with search:read; Slack allows search only with one."
    )
    api_url: ApiBaseUrl = Field(
        "https://slack.com/api/", description="Slack Web API base URL (https, or http on loopback)."
    )
    channels: CommaList = Field(
        (), description="Channels the server may read: ids (C0123ABCD, globs like C04*) or names (general, eng-*)."
    )
    write_channels: CommaList = Field(
        (), description="Channel ids the server may post and react in (ids only; names can be renamed)."
    )
    allow_dms: bool = Field(False, description="Allow direct messages and group DMs (they must still be allowlisted).")
    directory_ttl: float = Field(300.0, ge=0, description="Seconds the channel and user directories are cached.")
    max_message_chars: int = Field(4000, ge=100, le=40000, description="Longest message text returned, in characters.")
    file_hosts: CommaList = Field(
        ("files.slack.com",),
        description="Hosts file downloads may go to (https only, with the bot token), besides the API host.",
    )
    max_file_bytes: int = Field(
        1_000_000, ge=1024, le=20_000_000, description="Largest file whose text is read; larger files are refused."
    )

    @field_validator("bot_token", "user_token")
    @classmethod
    def _token_kind(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        prefix, kind = _TOKEN_KINDS[str(info.field_name)]
        secret = value.get_secret_value().strip()
        if not secret:
            return None
        # Rotating tokens carry an `xoxe.` prefix in front of the usual one.
        if not secret.removeprefix("xoxe.").startswith(prefix):
            raise ValueError(f"must be {kind}")
        return SecretStr(secret)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"  # slack-sdk joins method names onto it

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for entry in value:
            if ID_PATTERN.match(entry):
                out.append(entry)
                continue
            name = entry.removeprefix("#").lower()
            if not name or any(ch.isspace() or ch in "<>|@," for ch in name):
                raise ValueError("entries are channel ids (C0123ABCD) or channel names (general, eng-*)")
            out.append("#" + name)
        return tuple(out)

    @field_validator("write_channels")
    @classmethod
    def _write_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not ID_PATTERN.match(entry):
                raise ValueError(
                    "entries must be channel ids such as C0123ABCD (names are refused here: a channel can be renamed)"
                )
        return value
