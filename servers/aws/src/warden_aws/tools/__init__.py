"""The tool groups, in the order `tools/list` shows them."""

from __future__ import annotations

from warden_aws.client import AwsClient
from warden_aws.settings import Settings
from warden_aws.tools import api, cost, identity, inventory, monitoring
from warden_core import ToolSpec

GROUPS = ("identity", "api", "inventory", "monitoring", "cost")


def all_specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return [
        *identity.specs(aws, settings),
        *api.specs(aws, settings),
        *inventory.specs(aws, settings),
        *monitoring.specs(aws, settings),
        *cost.specs(aws, settings),
    ]
