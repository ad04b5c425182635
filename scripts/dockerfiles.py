"""Write servers/<name>/Dockerfile for every server from deploy/docker/Dockerfile.in.

    python scripts/dockerfiles.py          write them
    python scripts/dockerfiles.py --check  exit 1 if any is missing or differs (lint and tests run this)

The template says everything once; a server only brings its name and its default HTTP port.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "docker" / "Dockerfile.in"

# Default HTTP ports, as each server's settings declare them (tests/deploy checks they agree).
PORTS = {"postgres": 8101, "github": 8102, "kubernetes": 8103, "slack": 8104, "aws": 8105}


def render(name: str) -> str:
    text = TEMPLATE.read_text()
    for key, value in {"@name@": name, "@NAME@": name.upper(), "@port@": str(PORTS[name])}.items():
        text = text.replace(key, value)
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in PORTS:
        path = ROOT / "servers" / name / "Dockerfile"
        wanted = render(name)
        if path.exists() and path.read_text() == wanted:
            continue
        if check:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(wanted)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date with {TEMPLATE.relative_to(ROOT)}: {', '.join(stale)} (run `make dockerfiles`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
