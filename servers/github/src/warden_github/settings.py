"""warden-github settings: the server's own GitHub token, the repositories it may touch, and how it treats content."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from warden_core import CommaList, CoreSettings
from warden_core.settings import ApiBaseUrl

_PATTERN = re.compile(r"^[A-Za-z0-9*?._\[\]!-]+(/[A-Za-z0-9*?._\[\]!-]+)?$")


def _repo_patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    """`acme` means the whole `acme` account (`acme/*`); `acme/api` one repository; `*` everything."""
    patterns: list[str] = []
    for value in values:
        if value == "*":
            patterns.append(value)
            continue
        if not _PATTERN.match(value):
            raise ValueError(f"{value!r} is not an owner or owner/repo pattern")
        patterns.append(value if "/" in value else f"{value}/*")
    return tuple(patterns)


def _api_url(value: str) -> str:
    return value.rstrip("/")


RepoPatterns = Annotated[CommaList, AfterValidator(_repo_patterns)]


class Settings(CoreSettings):
    """warden-github: GitHub repository context for AI agents, scoped to the repositories you choose."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_GITHUB_")  # the rest is inherited from CoreSettings
    server_name: ClassVar[str] = "github"
    default_port: ClassVar[int] = 8102
    required: ClassVar[tuple[str, ...]] = ("token", "repos")

    token: SecretStr | None = Field(
        None, description="The server's own GitHub token: a fine-grained PAT or a GitHub App installation token."
    )
    app_id: int | None = Field(None, ge=1, description="GitHub App id: authenticate as the App instead of a token.")
    app_private_key: SecretStr | None = Field(None, description="The GitHub App's private key (PEM).")
    app_installation_id: int | None = Field(
        None, ge=1, description="The App's installation whose repositories the server reads."
    )
    api_url: Annotated[ApiBaseUrl, AfterValidator(_api_url)] = Field(
        "https://api.github.com", description="GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3)."
    )
    repos: RepoPatterns = Field(
        (), description="Repositories the server may read: `owner/repo`, `owner/*` or `owner`; empty admits none."
    )
    write_repos: RepoPatterns = Field(
        (), description="Repositories write tools may change (also needs read_only=false); empty hides write tools."
    )
    lockdown: bool = Field(
        False, description="Withhold titles and bodies written by authors without push access (see README)."
    )
    lockdown_trusted: CommaList = Field(
        (), description="Logins whose content lockdown never withholds (e.g. dependabot[bot])."
    )
    confirm_writes: Literal["all", "public", "none"] = Field(
        "public", description="Which writes ask the user first: all, those to non-private repositories, or none."
    )
    max_file_bytes: int = Field(
        100_000, ge=1024, le=1_000_000, description="Files larger than this come back as a link, not content."
    )
    log_hosts: CommaList = Field(
        ("*.blob.core.windows.net", "*.actions.githubusercontent.com", "*.githubusercontent.com"),
        description="Hosts job-log downloads may be redirected to (https only), besides the API host.",
    )
    max_log_bytes: int = Field(
        50_000_000, ge=1024, description="Most bytes of one job log read (the tail is kept) before stopping."
    )
    write_interval: float = Field(
        1.0, ge=0, le=10, description="Seconds between writes, as GitHub asks, to avoid secondary rate limits."
    )

    @model_validator(mode="after")
    def _check_app(self) -> Settings:
        app = (self.app_id, self.app_private_key, self.app_installation_id)
        if any(v is not None for v in app) and not all(v is not None for v in app):
            names = ", ".join(self.env_name(n) for n in ("app_id", "app_private_key", "app_installation_id"))
            raise ValueError(f"a GitHub App needs all of {names}")
        if self.app_id is not None and self.token is not None:
            raise ValueError(f"set {self.env_name('token')} or the GitHub App settings, not both")
        return self

    @property
    def app(self) -> bool:
        return self.app_id is not None
