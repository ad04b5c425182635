"""The five Dockerfiles: written from one template, and each one shaped as the packaging rules say.

`make lint` runs hadolint on them; `make test-images` builds and runs them.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy.support import ROOT, SERVERS, load, ports, registered

dockerfiles = load(ROOT / "scripts" / "dockerfiles.py")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "servers" / name / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)]


def test_the_ports_are_the_servers_own_defaults() -> None:
    assert set(ports()) == set(SERVERS)
    for name, app in registered().items():
        assert ports()[name] == app.settings.default_port, name


@pytest.mark.parametrize("name", SERVERS)
def test_dockerfile_is_the_template_for_this_server(name: str) -> None:
    assert (ROOT / "servers" / name / "Dockerfile").read_text() == dockerfiles.render(name), "run `make dockerfiles`"


@pytest.mark.parametrize("name", SERVERS)
def test_dockerfile_shape(name: str) -> None:
    steps = instructions(name)
    assert steps[0] == ("ARG", "BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm")
    stages = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    assert len(stages) == 2, "multi-stage: a build stage and a runtime stage"
    assert all(steps[i][1].startswith("${BASE_IMAGE}") for i in stages)
    build, runtime = steps[stages[0] : stages[1]], steps[stages[1] :]

    install = " ".join(args for op, args in build if op == "RUN")
    assert "--require-hashes" in install and "--no-deps" in install  # exactly the locked, hashed set
    assert ("COPY", f"build/wheelhouse/requirements/{name}.txt /requirements.txt") in build
    assert ("COPY", f"build/wheelhouse/requirements/{name}-warden.txt /requirements-warden.txt") in build
    local = next(args.split()[:-1] for op, args in build if op == "COPY" and "/local/" in args)
    assert local == ["build/wheelhouse/local/lpwarden_core-*.whl", f"build/wheelhouse/local/lpwarden_{name}-*.whl"]
    assert any(op == "ENV" and "PIP_NO_INDEX=1" in args for op, args in build)  # the wheelhouse or nothing

    assert [op for op, _ in runtime].count("RUN") == 1  # only the user is made here: no tools, no caches
    assert ("COPY", "--from=build /opt/warden /opt/warden") in runtime
    user = [args for op, args in runtime if op == "USER"]
    assert user == ["10001:10001"]  # numeric, so Kubernetes can check runAsNonRoot
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and f"WARDEN_{name.upper()}_HOST=0.0.0.0" in env
    assert ("EXPOSE", str(ports()[name])) in runtime
    healthcheck = next(args for op, args in runtime if op == "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command == ["python3", "-I", "/opt/warden/healthcheck.py", name, str(ports()[name])]
    assert runtime[-1] == ("ENTRYPOINT", f'["warden-{name}"]')


def test_build_context_is_the_wheelhouse_and_the_health_check_only() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*"
    copied = {
        args.split()[0]
        for name in SERVERS
        for op, args in instructions(name)
        if op == "COPY" and not args.startswith("--from")
    }
    for source in copied:
        assert any(source.startswith(rule[1:].rstrip("/")) for rule in ignore[1:]), source
