"""Test helpers for Warden servers: client fixtures for both protocol eras, toolsnaps, contract checks.

Loaded as a pytest plugin (`-p warden_core.testing.plugin`); importing it needs pytest, which is a
development dependency only.
"""

from warden_core.testing.clients import ERAS, call, connect, connect_http, data_of, text_of
from warden_core.testing.contract import check_contract
from warden_core.testing.identity import acting_as
from warden_core.testing.toolsnaps import check_toolsnaps, list_tools_json

__all__ = [
    "ERAS",
    "acting_as",
    "call",
    "check_contract",
    "check_toolsnaps",
    "connect",
    "connect_http",
    "data_of",
    "list_tools_json",
    "text_of",
]
