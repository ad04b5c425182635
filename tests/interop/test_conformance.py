"""The official MCP conformance harness's generic server scenarios pass against the example server.

Each scenario runs over streamable HTTP on loopback, at every spec version the harness applies it
to: 2025-11-25 (the initialize handshake) and 2026-07-28 (stateless). Checks that need fixture
tools the example server lacks are listed, one check at a time and each with its reason, in
`conformance-expected-failures.yml`; the harness fails the run on any other failure or warning,
and on a listed check that passes (a stale entry).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.interop.clients import INTEROP_DIR, Completed, NpmClients
from tests.interop.servers import HttpServer

pytestmark = pytest.mark.interop

logger = logging.getLogger(__name__)

BASELINE = INTEROP_DIR / "conformance-expected-failures.yml"
LEGACY, MODERN = "2025-11-25", "2026-07-28"

# The generic server scenarios (they need no fixture tools), and the spec versions the harness
# applies each to. test_scenarios_run_at_every_version_the_harness_supports keeps this honest.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "tools-list": (LEGACY, MODERN),
    "dns-rebinding-protection": (LEGACY, MODERN),
    "server-stateless": (MODERN,),
    "http-header-validation": (MODERN,),
    "caching": (MODERN,),
}
RUNS = [(scenario, version) for scenario, versions in SCENARIOS.items() for version in versions]

NOT_PASSED = frozenset({"FAILURE", "WARNING"})


def baseline_entries(path: Path = BASELINE) -> list[str]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict) and set(document) == {"server"}, f"{path}: expected only a `server:` list"
    entries = document["server"]
    assert isinstance(entries, list) and all(isinstance(entry, str) for entry in entries), f"{path}: not a list"
    return entries


def expected_failures(scenario: str) -> set[str]:
    return {entry.split(":", 1)[1] for entry in baseline_entries() if entry.startswith(f"{scenario}:")}


def run_scenario(
    npm_clients: NpmClients, *, home: Path, url: str, scenario: str, version: str, baseline: Path, out: Path
) -> tuple[Completed, list[dict[str, Any]]]:
    run = npm_clients.conformance_cli(
        "server",
        "--url",
        url,
        "--scenario",
        scenario,
        "--spec-version",
        version,
        "--expected-failures",
        str(baseline),
        "--output-dir",
        str(out),
        home=home,
    )
    results = sorted(out.glob("*/checks.json"))
    checks: list[dict[str, Any]] = json.loads(results[0].read_text()) if len(results) == 1 else []
    return run, checks


@pytest.mark.parametrize("scenario_version", RUNS, ids=[f"{s}@{v}" for s, v in RUNS])
def test_scenario_passes(
    npm_clients: NpmClients,
    client_home: Path,
    conformance_http: HttpServer,
    tmp_path: Path,
    scenario_version: tuple[str, str],
) -> None:
    scenario, version = scenario_version
    start = conformance_http.log_size()
    run, checks = run_scenario(
        npm_clients,
        home=client_home,
        url=conformance_http.url,
        scenario=scenario,
        version=version,
        baseline=BASELINE,
        out=tmp_path / "results",
    )
    assert run.returncode == 0, run.describe()
    assert "SKIPPED: scenario" not in run.stdout, run.describe()  # not applicable at this version: exit 0, no checks
    assert checks, f"no checks.json written under {tmp_path / 'results'}\n{run.describe()}"

    counts = Counter(check["status"] for check in checks)
    logger.info("conformance %s @ %s: %s", scenario, version, dict(sorted(counts.items())))
    not_passed = {check["id"] for check in checks if check["status"] in NOT_PASSED}
    assert not_passed == expected_failures(scenario), json.dumps(
        [check for check in checks if check["status"] in NOT_PASSED], indent=2
    )
    assert counts["SUCCESS"] > 0
    assert set(counts) <= {"SUCCESS", "SKIPPED", "INFO", *NOT_PASSED}, counts
    schema = [check["status"] for check in checks if check["id"] == "wire-schema-valid"]
    assert schema in ([], ["SUCCESS"]), "the server sent a message that violates the spec's JSON schema"

    # The harness really spoke the era asked for: a handshake at 2025-11-25, none at 2026-07-28
    # (server-stateless probes `initialize` there, and must be refused).
    events = conformance_http.audit_events(start)
    assert events, "the server audited no request from the harness"
    handshakes = [event for event in events if event["method"] == "initialize" and event["outcome"] == "ok"]
    if version == LEGACY:
        assert handshakes, f"no initialize handshake in a {LEGACY} run: {events}"
    else:
        assert not handshakes, f"an initialize handshake succeeded in a {MODERN} run: {handshakes}"


def test_scenarios_run_at_every_version_the_harness_supports(npm_clients: NpmClients, client_home: Path) -> None:
    """A scenario the harness applies at a version must run at it (and not where it is skipped)."""
    for version in (LEGACY, MODERN):
        run = npm_clients.conformance_cli("list", "--server", "--spec-version", version, home=client_home)
        assert run.returncode == 0, run.describe()
        listed = set(re.findall(r"^\s+- (\S+)", run.stdout, flags=re.MULTILINE))
        assert listed, run.describe()
        for scenario, versions in SCENARIOS.items():
            assert (scenario in listed) == (version in versions), f"{scenario} at {version}:\n{run.stdout}"


def test_baseline_lists_explained_checks_of_scenarios_that_run() -> None:
    """Every entry names one check of a scenario these tests run (so a stale entry is caught) and says why."""
    entries = baseline_entries()
    assert len(entries) == len(set(entries)), "duplicate entries"
    for entry in entries:
        scenario, sep, check = entry.partition(":")
        assert sep and check, f"{entry!r}: list single checks (`scenario:check-id`), not whole scenarios"
        assert scenario in SCENARIOS, f"{entry!r}: scenario is not run by these tests, so it could go stale unseen"
    # The nearest line above each entry that is not itself an entry must be a comment (its reason).
    reason = False
    for line in BASELINE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            assert reason, f"{stripped!r} has no comment explaining it"
        elif stripped:
            reason = stripped.startswith("#")


def test_a_stale_baseline_entry_fails_the_run(
    npm_clients: NpmClients, client_home: Path, conformance_http: HttpServer, tmp_path: Path
) -> None:
    """The guard the baseline relies on: listing a check that passes is an error, not a silent pass."""
    stale = tmp_path / "stale.yml"
    stale.write_text("server:\n  - tools-list:tools-name-format\n")
    run, checks = run_scenario(
        npm_clients,
        home=client_home,
        url=conformance_http.url,
        scenario="tools-list",
        version=MODERN,
        baseline=stale,
        out=tmp_path / "results",
    )
    assert [check["status"] for check in checks if check["id"] == "tools-name-format"] == ["SUCCESS"]
    assert run.returncode == 1, run.describe()
    assert "stale" in run.stdout.lower(), run.describe()
