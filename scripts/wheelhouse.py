"""Make build/wheelhouse, everything the images install, on the host and from the lock.

    uv run python scripts/wheelhouse.py [server ...]     (all servers when none is named)

    build/wheelhouse/wheels/              every locked runtime dependency of the servers, downloaded
                                          and hash-checked
    build/wheelhouse/local/               lpwarden-core and the servers, built from this checkout
    build/wheelhouse/requirements/<name>.txt
                                          the dependencies image warden-<name> installs: `uv export
                                          --frozen --no-dev --package lpwarden-<name>` (pins, markers and
                                          hashes from uv.lock)
    build/wheelhouse/requirements/<name>-warden.txt
                                          then lpwarden-core and lpwarden-<name>, pinned to their hashes
    build/wheelhouse/requirements/<name>-image.txt
                                          both, without what no image platform installs (pywin32 and
                                          the like): what the image's SBOM lists

The two steps are two image layers, so a change to the code reinstalls only the code.

This step needs the package index; the image builds then need no network at all (`--network none`).
Downloads are kept between runs, so a second run only rebuilds the local wheels.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker, default_environment

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "wheelhouse"
WHEELS = OUT / "wheels"
LOCAL = OUT / "local"
REQUIREMENTS = OUT / "requirements"
UV = os.environ.get("UV", "uv")
DIST = "lpwarden-"  # every distribution of the project: lpwarden-core, lpwarden-<name>
EXPORT = [UV, "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-header", "--no-annotate", "--quiet"]

# The images run CPython 3.11 on Debian 12, x86-64. The patch level depends on the base image (3.11.2
# from Debian, newer from python:3.11-slim), and markers such as `python_full_version < '3.11.3'` tell
# them apart, so a wheel is fetched when any of them needs it.
TARGETS = [
    default_environment()
    | {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "python_version": "3.11",
        "python_full_version": patch,
        "implementation_version": patch,
    }
    for patch in ("3.11.2", "3.11.99")
]


def run(*args: str | Path, capture: bool = False) -> str:
    done = subprocess.run([str(a) for a in args], check=True, cwd=ROOT, text=True, capture_output=capture)
    return done.stdout if capture else ""


def entries(requirements: str) -> list[str]:
    """One string per requirement (the export continues lines with a backslash)."""
    return [e.strip() for e in requirements.replace("\\\n", " ").splitlines() if e.strip()]


def needed(entry: str) -> str | None:
    """The requirement without its marker when some target needs it, else None (pywin32 and the like)."""
    requirement, _, rest = entry.partition(" --hash")
    pin, _, marker = requirement.partition(";")
    if marker.strip() and not any(Marker(marker.strip()).evaluate(env) for env in TARGETS):
        return None
    return f"{pin.strip()} --hash{rest}"


def download(requirements: str) -> None:
    pip_venv = ROOT / "build" / "tools" / "pip"
    pip = pip_venv / "bin" / "pip"
    if not pip.exists():
        run(UV, "venv", "--quiet", "--seed", "--python", "3.11", pip_venv)
    wanted, done = OUT / "download.txt", OUT / "downloaded.txt"
    wanted.write_text("\n".join(filter(None, map(needed, entries(requirements)))) + "\n")
    if done.exists() and done.read_text() == wanted.read_text():
        return  # the same lock as last time: every wheel is here, checked then
    run(
        pip,
        "download",
        "-qq",
        "--disable-pip-version-check",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--dest",
        WHEELS,
        "--requirement",
        wanted,
    )
    done.write_text(wanted.read_text())


def local_wheels() -> dict[str, str]:
    """Build lpwarden-core and every server; return `name==version --hash=...` by distribution name."""
    for old in LOCAL.glob("*.whl"):
        old.unlink()
    run(UV, "build", "--quiet", "--all-packages", "--wheel", "--out-dir", LOCAL)
    pins = {}
    for wheel in LOCAL.glob(f"{DIST.replace('-', '_')}*.whl"):
        dist, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        pins[dist.replace("_", "-")] = f"{dist.replace('_', '-')}=={version} --hash=sha256:{digest}"
    return pins


def main(servers: list[str]) -> int:
    servers = servers or sorted(p.parent.name for p in ROOT.glob("servers/*/pyproject.toml"))
    WHEELS.mkdir(parents=True, exist_ok=True)
    LOCAL.mkdir(parents=True, exist_ok=True)
    REQUIREMENTS.mkdir(parents=True, exist_ok=True)
    download(run(*EXPORT, "--all-packages", capture=True))
    pins = local_wheels()
    for name in servers:
        exported = run(*EXPORT, "--package", f"{DIST}{name}", capture=True)
        if re.search(rf"^{DIST}", exported, re.MULTILINE):
            raise SystemExit(f"{DIST}{name} depends on another workspace package; the image would miss it")
        (REQUIREMENTS / f"{name}.txt").write_text(exported)
        warden = f"{pins[f'{DIST}core']}\n{pins[f'{DIST}{name}']}\n"
        (REQUIREMENTS / f"{name}-warden.txt").write_text(warden)
        image = [entry for entry in map(needed, entries(exported + warden)) if entry]
        (REQUIREMENTS / f"{name}-image.txt").write_text("\n".join(image) + "\n")
    wheels = len(list(WHEELS.glob("*.whl")))
    sys.stdout.write(f"wheelhouse: {wheels} wheels, local wheels and requirements for {', '.join(servers)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
