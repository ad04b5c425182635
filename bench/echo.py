"""The cheap tool with Warden's full pipeline: a warden_core server whose one tool echoes its input.

    python bench/echo.py [--transport http --port N]     (settings from WARDEN_ECHO_*)

Beside `bench/bare.py`'s echo it shows what the core itself costs per call: API-key auth, the
Host/Origin check, the policy gate, the rate limit, redaction, the audit event and the metrics.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from warden_core import Access, CoreSettings, ServerApp, ToolSpec, WardenServer


class EchoSettings(CoreSettings):
    """bench echo: one tool that echoes its input."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_ECHO_")
    server_name: ClassVar[str] = "echo"
    default_port: ClassVar[int] = 8201


def build_server(settings: EchoSettings) -> WardenServer:
    async def echo(text: Annotated[str, Field(description="Text to echo back.", max_length=1000)]) -> str:
        return text

    spec = ToolSpec(
        name="echo",
        title="Echo",
        description="Echo the text back.",
        group="basic",
        access=Access.READ,
        handler=echo,
        open_world=False,
    )
    return WardenServer(
        settings=settings, specs=[spec], instructions="Echoes text.", default_groups=["basic"], version="0"
    )


APP = ServerApp(settings=EchoSettings, build=build_server)

if __name__ == "__main__":
    APP.main()
