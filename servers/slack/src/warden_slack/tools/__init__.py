"""The tool groups, in the order they are listed: read channels, files, search, users, then writes."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_slack.tools import channels, files, messages, search, users
from warden_slack.tools.common import Runtime

GROUPS = (channels, files, search, users, messages)


def build_specs(rt: Runtime) -> list[ToolSpec]:
    return [spec for group in GROUPS for spec in group.specs(rt)]


__all__ = ["GROUPS", "Runtime", "build_specs"]
