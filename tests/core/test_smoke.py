"""The example server answers both eras in memory, with the core's policy and audit in place."""

from __future__ import annotations

import pytest

from tests.core.example_server import ExampleSettings, build_server
from warden_core.testing import check_contract, connect

pytestmark = pytest.mark.anyio


async def test_echo_in_both_eras(era: str) -> None:
    server = build_server(ExampleSettings.load())
    async with connect(server, era) as client:
        result = await client.call_tool("ex_echo", {"text": "hi"})
    assert not result.is_error
    assert result.structured_content == {"text": "hi", "length": 2}


async def test_contract() -> None:
    await check_contract(build_server(ExampleSettings.load()), prefix="ex_")
