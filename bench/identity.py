"""Per-call cost of the identity layer: the one gate's decision with and without a policy file.

    uv run python bench/identity.py

Prints microseconds per call (median of several rounds): the guard without a policy file (today's
path), with a Cedar file (cached decision, and a new decision each time), an identity-map lookup,
and reading end-user headers. Figures only; nothing is asserted.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio
from tests.core.example_server import ExampleSettings, build_server

from warden_core import identity
from warden_core.identity import IdentityMap
from warden_core.testing.identity import api_key, end_user

POLICY = """
@id("readers") permit(principal in Warden::Group::"readers", action in Warden::Action::"access:read", resource);
@id("no-attic") forbid(principal, action, resource == Warden::Shelf::"attic") when { context.end_user };
"""


def per_call(fn: Callable[[], object], n: int = 5000, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.cedar"
        path.write_text(POLICY)
        plain = build_server(ExampleSettings.load(shelves=("main", "other"), audit_sink=str(Path(folder) / "a")))
        cedar = build_server(
            ExampleSettings.load(shelves=("main", "other"), policy_file=str(path), audit_sink=str(Path(folder) / "b"))
        )
        spec = plain.exposed_spec("ex_list_items")
        assert spec is not None
        identity.enter(end_user("alice@example.com", ["readers"]))
        rows = [("guard, no policy file (today's path)", per_call(lambda: plain.policy.guard(spec, {"shelf": "main"})))]
        rows.append(
            ("guard, policy file, cached decision", per_call(lambda: cedar.policy.guard(spec, {"shelf": "main"})))
        )
        engine = cedar.policy.cedar
        assert engine is not None
        users = [end_user(f"user{i}@example.com", ["readers"]) for i in range(100_000)]
        counter = iter(range(100_000))

        def fresh() -> None:
            engine.decide(users[next(counter)], spec, None, "http")

        rows.append(("Cedar decision, not cached", per_call(fresh, n=2000, rounds=5)))
        mapping = IdentityMap.parse(["principal:apikey/ci=ci_ro", "group:analysts=analyst_ro", "*=base_ro"])
        alice = end_user("alice@example.com", ["analysts"])
        rows.append(("identity map lookup (cached)", per_call(lambda: mapping.lookup(alice))))
        gateways = identity.Gateways(ExampleSettings.load(trusted_gateways=("contextforge",)))
        headers = {"x-forwarded-user-id": "alice@example.com", "x-forwarded-user-groups": "analysts,oncall"}
        gateway = api_key("contextforge")

        async def read_headers(n: int = 5000) -> float:
            started = time.perf_counter()
            for _ in range(n):
                await gateways.from_headers(gateway, headers)
            return (time.perf_counter() - started) / n * 1e6

        rows.append(("end-user headers read", statistics.median(anyio.run(read_headers) for _ in range(5))))
    print("| Step | µs per call |\n|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value:.1f} |")


if __name__ == "__main__":
    main()
