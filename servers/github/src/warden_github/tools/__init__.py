"""The tool groups, in the order tools/list shows them."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_github.tools import actions, context, issues, pulls, repos, search, security
from warden_github.tools.common import Deps

GROUPS = (search, repos, issues, pulls, actions, security, context)
DEFAULT_GROUPS = ("repos", "issues", "pull_requests", "actions", "security", "context")


def all_specs(deps: Deps) -> list[ToolSpec]:
    return [spec for group in GROUPS for spec in group.build(deps)]
