"""The tool groups, in the order `tools/list` shows them."""

from __future__ import annotations

from warden_aws.client import AwsClient
from warden_aws.settings import Settings
from warden_aws.tools import api, audit, cost, findings, identity, inventory, monitoring
from warden_core import ToolSpec

GROUPS = ("identity", "api", "api_docs", "inventory", "monitoring", "audit", "security", "cost")
DEFAULT_GROUPS = ("identity", "api", "monitoring", "audit", "security", "cost")
"""Off by default, to keep the default `tools/list` small: `inventory` (aws_call reaches the same reads;
the curated rows are one group away) and `api_docs` (aws_call's refusals already name the valid choices)."""


def all_specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return [
        *identity.specs(aws, settings),
        *api.specs(aws, settings),
        *inventory.specs(aws, settings),
        *monitoring.specs(aws, settings),
        *audit.specs(aws, settings),
        *findings.specs(aws, settings),
        *cost.specs(aws, settings),
    ]
