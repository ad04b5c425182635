"""Test helpers for Warden servers: client fixtures for both protocol eras, toolsnaps, contract checks,
the context budget of a default `tools/list`.

Loaded as a pytest plugin (`-p warden_core.testing.plugin`); importing it needs pytest, which is a
development dependency only.
"""

from warden_core.testing.budget import TOOLS_LIST_BUDGET, check_tools_list_budget, tools_list_size
from warden_core.testing.clients import ERAS, call, connect, connect_http, data_of, text_of
from warden_core.testing.contract import check_contract
from warden_core.testing.identity import acting_as
from warden_core.testing.toolsnaps import check_toolsnaps, list_tools_json

__all__ = [
    "ERAS",
    "TOOLS_LIST_BUDGET",
    "acting_as",
    "call",
    "check_contract",
    "check_tools_list_budget",
    "check_toolsnaps",
    "connect",
    "connect_http",
    "data_of",
    "list_tools_json",
    "text_of",
    "tools_list_size",
]
