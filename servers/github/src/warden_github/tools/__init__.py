"""The tool groups, in the order tools/list shows them."""

from __future__ import annotations

from warden_core import ToolSpec
from warden_github.tools import actions, context, issues, pulls, repos
from warden_github.tools.common import Deps

GROUPS = (repos, issues, pulls, actions, context)
DEFAULT_GROUPS = ("repos", "issues", "pull_requests", "actions", "context")


def all_specs(deps: Deps) -> list[ToolSpec]:
    return [spec for group in GROUPS for spec in group.build(deps)]
