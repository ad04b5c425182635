"""The images' HEALTHCHECK: `python3 -I healthcheck.py <server> <default port>`.

Over HTTP it asks the server's own `/healthz` (open, reveals only a status) and is healthy on a 200.
Over stdio there is no endpoint to ask: the container lives exactly as long as the server process, so
the check reports healthy and says why. The transport, host and port are read the way the server reads
them: the flags of the container's main process (PID 1, the entrypoint) win over the environment,
which wins over the defaults. Standard library only, so a check costs a few milliseconds, not an
import of the server.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - we connect, not bind


def main_process_flags(cmdline: Path = Path("/proc/1/cmdline")) -> dict[str, str]:
    """`--transport`, `--host` and `--port` as given to PID 1 (both `--flag value` and `--flag=value`)."""
    try:
        argv = cmdline.read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return {}
    flags: dict[str, str] = {}
    for i, arg in enumerate(argv):
        for name in ("transport", "host", "port"):
            if arg == f"--{name}" and i + 1 < len(argv):
                flags[name] = argv[i + 1]
            elif arg.startswith(f"--{name}="):
                flags[name] = arg.split("=", 1)[1]
    return flags


def main(server: str, default_port: str, cmdline: Path = Path("/proc/1/cmdline")) -> int:
    flags = main_process_flags(cmdline)

    def setting(name: str, default: str) -> str:
        return flags.get(name) or os.environ.get(f"WARDEN_{server.upper()}_{name.upper()}") or default

    if setting("transport", "stdio") != "http":
        sys.stdout.write("stdio transport: no endpoint to probe; healthy while the server process runs\n")
        return 0
    host = setting("host", "127.0.0.1")
    host = WILDCARDS.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{setting('port', default_port)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            sys.stdout.write(f"{url}: {response.status}\n")
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stdout.write(f"{url}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
