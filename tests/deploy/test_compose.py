"""compose.yaml: every server hardened, over HTTP with API keys, on loopback, secrets only from .env.

`make lint` validates the file with `docker-compose config` (schema and interpolation); these tests
check what a schema cannot: the hardening, least privilege between the containers, and that
.env.example names every variable the file uses.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.support import ROOT, SERVERS, ports, registered

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
EXAMPLE = (ROOT / ".env.example").read_text()


def test_five_servers_and_a_database() -> None:
    assert set(SERVICES) == {"postgres", *(f"warden-{name}" for name in SERVERS)}


@pytest.mark.parametrize("name", SERVERS)
def test_server_is_hardened(name: str) -> None:
    service = SERVICES[f"warden-{name}"]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"] and "cap_add" not in service
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["user"] == "10001:10001"
    assert service["tmpfs"] == ["/tmp:size=16m,mode=1777"]  # the only writable path, in memory
    assert service["mem_limit"] and service["pids_limit"]
    assert "privileged" not in service and "network_mode" not in service
    assert service["healthcheck"]["test"] == [
        "CMD",
        "python3",
        "-I",
        "/opt/warden/healthcheck.py",
        name,
        str(ports()[name]),
    ]


@pytest.mark.parametrize("name", SERVERS)
def test_server_speaks_http_with_api_keys_on_loopback_only(name: str) -> None:
    service = SERVICES[f"warden-{name}"]
    env = service["environment"]
    prefix = f"WARDEN_{name.upper()}_"
    assert env[f"{prefix}TRANSPORT"] == "http"
    assert f"{prefix}API_KEYS" in env and env[f"{prefix}API_KEYS"] is None  # from .env, never written here
    assert service["ports"] == [f"127.0.0.1:{ports()[name]}:{ports()[name]}"]
    assert service["image"].endswith(f"warden-{name}:${{WARDEN_IMAGE_TAG:-latest}}")


@pytest.mark.parametrize("name", SERVERS)
def test_each_container_gets_only_its_own_settings(name: str) -> None:
    env = SERVICES[f"warden-{name}"]["environment"]
    prefix = f"WARDEN_{name.upper()}_"
    for key, value in env.items():
        if name == "aws" and key.startswith("AWS_"):
            continue  # AWS's own credential chain
        assert key.startswith(prefix), key
        if name in registered():  # a typo would be silently ignored by the server
            assert key.removeprefix(prefix).lower() in registered()[name].settings.model_fields, key
        # A value written here is plain configuration or built from .env: never a secret itself.
        assert value is None or "${" in value or key.removeprefix(prefix) in ("TRANSPORT", "KUBECONFIG", "STRICT_ROLE")


def test_env_example_names_every_variable_compose_uses() -> None:
    text = (ROOT / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    passed_through = {
        key for service in SERVICES.values() for key, v in service.get("environment", {}).items() if v is None
    }
    listed = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", EXAMPLE, re.MULTILINE))
    assert interpolated | passed_through <= listed
    assert listed <= interpolated | passed_through  # and nothing else
    # The example holds no secret: required ones are empty, optional ones commented out.
    for line in EXAMPLE.splitlines():
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            assert line.endswith("="), line


def test_postgres_is_seeded_and_warden_reads_it_as_the_read_only_role() -> None:
    database = SERVICES["postgres"]
    mounts = [volume.split(":") for volume in database["volumes"] if volume.startswith("./")]
    assert [target for _, target, _ in mounts] == [
        "/docker-entrypoint-initdb.d/10-demo_seed.sql",
        "/docker-entrypoint-initdb.d/20-readonly_role.sql",
        "/docker-entrypoint-initdb.d/30-readonly-password.sh",
    ]
    for source, _, mode in mounts:
        assert (ROOT / source).is_file(), source
        assert mode == "ro"
    assert "warden_readonly" in (ROOT / "servers/postgres/sql/readonly_role.sql").read_text()
    assert "warden_readonly" in (ROOT / "deploy/compose/30-readonly-password.sh").read_text()

    server = SERVICES["warden-postgres"]
    assert server["environment"]["WARDEN_POSTGRES_DSN"].startswith("postgresql://warden_readonly:${")
    assert server["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # The database is on an internal network that only warden-postgres joins, and publishes nothing.
    assert COMPOSE["networks"]["database"]["internal"] is True
    assert "ports" not in database
    assert [s for s, spec in SERVICES.items() if "database" in spec.get("networks", [])] == [
        "postgres",
        "warden-postgres",
    ]
