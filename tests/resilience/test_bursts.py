"""A burst of 10x the rate limit from one principal over HTTP (R-09): the excess gets a rate-limit answer
that says when to retry, a second principal is unaffected, and every request gets exactly one answer
(and exactly one audit event)."""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.resilience.mcp_http import Answer, call
from tests.resilience.targets import Target

LIMIT = 10
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_burst_from_one_principal_is_limited_and_leaves_the_other_alone(target: Target) -> None:
    keys = f"alice:{ALICE},bob:{BOB}"
    # A roomy backend deadline: this test is about the rate limit, not a slow fake under a burst.
    with target.serve(rate_limit=f"{LIMIT}/minute", api_keys=keys, backend_timeout=15) as server:
        # The limiter's windows are minutes of the clock, and a sliding-window counter lets one more call
        # through just after a window turns (the last window's count is weighted and rounded down): so the
        # burst starts early in a minute, and counts exactly.
        if time.time() % 60 > 40:
            time.sleep(60 - time.time() % 60 + 0.5)
        # Bob's calls are spread through alice's burst.
        requests = [(i, ALICE) for i in range(10 * LIMIT)]
        for n in range(LIMIT):
            requests.insert(n * 11, (1000 + n, BOB))

        def send(item: tuple[int, str]) -> tuple[int, str, Answer]:
            i, key = item
            return i, key, call(server.base, target.tool, target.arguments, id=i, token=key)

        with ThreadPoolExecutor(40) as pool:
            results = list(pool.map(send, requests))

    alice = [answer for _, key, answer in results if key == ALICE]
    bob = [answer for _, key, answer in results if key == BOB]
    # Exactly one answer per request, to the request it belongs to.
    assert all(answer.status == 200 and answer.result is not None for _, _, answer in results)
    assert [answer.id for _, _, answer in results] == [i for i, _ in requests]
    assert len({answer.request_id for _, _, answer in results}) == len(requests)

    assert sum(answer.ok for answer in alice) == LIMIT, Counter(a.text[:90] for a in alice)
    limited = [answer for answer in alice if not answer.ok]
    assert len(limited) == 9 * LIMIT
    for answer in limited:
        assert re.search(r"rate limit of 10/minute for gh_get_file exceeded; retry after \d+ s", answer.text), answer
    assert all(answer.ok for answer in bob), [answer.text for answer in bob if not answer.ok]

    # The audit trail holds exactly one event per request, with the same correlation id.
    events = [event for event in target.audit_events() if event.get("method") == "tools/call"]
    assert sorted(event["request_id"] for event in events) == sorted(a.request_id for _, _, a in results)
    decisions = Counter((event["principal"], event["decision"], event["outcome"]) for event in events)
    assert decisions == {
        ("apikey/alice", "allow", "ok"): LIMIT,
        ("apikey/alice", "deny", "rate_limited"): 9 * LIMIT,
        ("apikey/bob", "allow", "ok"): LIMIT,
    }
