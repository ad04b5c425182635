"""Each installed server's command line, as a user meets it: `--version`, `--help` and its settings."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.deploy.support import distribution, registered

BARE = {"PATH": "/usr/bin:/bin"}


def cli(name: str, *args: str, env: dict[str, str] = BARE) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / f"warden-{name}"
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.mark.parametrize("name", sorted(registered()))
def test_version_is_the_installed_distribution_s(name: str) -> None:
    done = cli(name, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"warden-{name} {version(distribution(name))} (core {version(distribution('core'))}, "
    )


@pytest.mark.parametrize("name", sorted(registered()))
def test_help_documents_every_setting(name: str) -> None:
    done = cli(name, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for doc in registered()[name].settings.settings():
        assert doc.description, f"{doc.env} needs a description: --help shows it"
        assert f"{doc.env} (" in text and " ".join(doc.description.split()) in text, doc.env
