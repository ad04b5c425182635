"""One command-line shape for every server.

    warden-<name>                         serve over stdio (what desktop clients launch)
    warden-<name> --transport http        serve streamable HTTP (what containers run)
    warden-<name> claude-config           print a claude_desktop_config.json entry
    warden-<name> tools                   print the tool surface (needs no credentials)
    warden-<name> hash-key                hash an API key for the *_API_KEYS setting
    warden-<name> --help | --version      the commands and every setting; the versions

Settings come from the environment; the flags override the transport settings. `--help` documents
every setting from the settings model itself, so it cannot drift from what the server reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio

from warden_core import tracing
from warden_core.auth import hash_api_key
from warden_core.logs import configure_logging
from warden_core.server import WardenServer
from warden_core.settings import CoreSettings, SettingsError, env_value
from warden_core.tracing import Instrumentation

S = TypeVar("S", bound=CoreSettings)


@dataclass(frozen=True)
class Flag:
    """A server-specific boolean flag that sets a setting, e.g. `--strict-role`."""

    name: str
    setting: str
    help: str


COMMANDS = {
    "serve": "serve MCP over stdio (the default), or streamable HTTP with --transport http",
    "tools": "print every tool as JSON: exposed or not, and why (needs no credentials)",
    "claude-config": "print a claude_desktop_config.json entry for the settings in effect",
    "hash-key": "read an API key on stdin and print its digest, for the API_KEYS setting",
}


@dataclass(frozen=True)
class ServerApp(Generic[S]):
    """What a server package hands the core: its settings class, how to build it, and its version."""

    settings: type[S]
    build: Callable[[S], WardenServer]
    flags: Sequence[Flag] = field(default_factory=tuple)
    tracing: Instrumentation | None = None  # how the backend SDK is traced, when OTEL_* asks for traces
    version: str = "unknown"

    @property
    def name(self) -> str:
        return self.settings.server_name

    def main(self, argv: Sequence[str] | None = None) -> None:
        code = run(self, argv)
        _leave_abandoned_threads(code)
        sys.exit(code)


def _leave_abandoned_threads(code: int, grace: float = 1.0) -> None:
    """Exit now, even if worker threads are still blocked on a backend.

    A call cancelled at its deadline (or at shutdown) abandons its worker thread, which may stay
    blocked in a socket read until the SDK's own timeout; the interpreter would wait for it at exit,
    past the drain deadline. Everything Warden owns is closed by now, so the threads are left behind.

    Idle worker threads are still alive for a moment when the event loop has just ended: anyio tells
    them to stop as its root task finishes, and they need a few milliseconds to notice. So each
    thread gets a short, shared grace to end before it counts as blocked.
    """
    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in others if t.is_alive()]
    if not stuck:
        return
    logging.getLogger(__name__).warning("exiting with %d worker threads still blocked on a backend", len(stuck))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _parser(app: ServerApp[Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"warden-{app.name}",
        description=(app.settings.__doc__ or "").strip(),
        epilog=_epilog(app),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=list(COMMANDS),
        metavar="command",
        help="see below (default: serve)",
    )
    parser.add_argument("--version", action=_Version, app=app, help="print the versions and exit")
    parser.add_argument("--transport", choices=["stdio", "http"], help="default: stdio (or the TRANSPORT setting)")
    parser.add_argument("--host", help="address to bind in HTTP mode (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port to bind in HTTP mode (default {app.settings.default_port})")
    parser.add_argument("--with-secrets", action="store_true", help="claude-config: include secret values")
    for flag in app.flags:
        parser.add_argument(flag.name, dest=flag.setting, action="store_true", default=None, help=flag.help)
    return parser


def _epilog(app: ServerApp[Any]) -> str:
    lines = ["commands:"]
    lines += [f"  {name:<15} {meaning}" for name, meaning in COMMANDS.items()]
    lines += ["", "settings (environment variables, read once at start):"]
    for doc in app.settings.settings():
        notes = [note for note, on in (("required", doc.required), ("secret", doc.secret)) if on]
        default = f"default: {doc.default}" if doc.default else "default: unset"
        lines.append(f"  {doc.env}  ({', '.join([*notes, default])})")
        lines += textwrap.wrap(doc.description, width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


class _Version(argparse.Action):
    """`--version`: the server's, the core's and the SDK's versions (read only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, app: ServerApp[Any], **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.app = app

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from importlib.metadata import version

        from warden_core import __version__ as core

        python = ".".join(map(str, sys.version_info[:3]))
        sys.stdout.write(
            f"warden-{self.app.name} {self.app.version} (core {core}, mcp {version('mcp')}, Python {python})\n"
        )
        parser.exit()


def run(app: ServerApp[Any], argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["policy"]:
        return _policy(app, argv[1:])
    args = _parser(app).parse_args(argv)
    if args.command == "hash-key":
        key = sys.stdin.readline().strip()
        if len(key) < 16:
            sys.stderr.write("hash-key: read an API key of at least 16 characters from stdin\n")
            return 2
        sys.stdout.write(hash_api_key(key) + "\n")
        return 0
    overrides = {name: getattr(args, name) for name in ("transport", "host", "port")}
    overrides |= {flag.setting: getattr(args, flag.setting) for flag in app.flags}
    for line in app.settings.unknown_variables():
        sys.stderr.write(f"warden-{app.name}: warning: {line}\n")
    try:
        settings = app.settings.load(**{k: v for k, v in overrides.items() if v is not None})
        configure_logging(settings.log_level)
        if args.command == "claude-config":
            sys.stdout.write(json.dumps(claude_config(app, settings, args.with_secrets), indent=2) + "\n")
            if missing := [settings.env_name(name) for name in settings.missing()]:
                sys.stderr.write(f"warden-{app.name}: required, not set: {', '.join(missing)} (placeholders above)\n")
            return 0
        server = app.build(settings)
        if args.command == "tools":
            sys.stdout.write(json.dumps(describe_tools(server), indent=2) + "\n")
            return 0
        if server.policy.cedar is not None:
            _reload_on_sighup(server)
        traces = tracing.start(server.name, app.tracing)
        try:
            if settings.transport == "http":
                from warden_core.http import serve_http  # HTTP machinery is not needed over stdio

                anyio.run(serve_http, server)
            else:
                from warden_core.stdio import serve_stdio

                anyio.run(serve_stdio, server)
        finally:
            if traces is not None:
                traces.shutdown()  # the process may end with os._exit next: nothing at exit would flush
    except SettingsError as exc:
        sys.stderr.write(f"warden-{app.name}: {exc}\n")
        return 2
    return 0


def _policy(app: ServerApp[Any], argv: Sequence[str]) -> int:
    """`policy check ...`: see warden_core.policycli."""
    from warden_core import policycli

    try:
        settings = app.settings.load()
        configure_logging(settings.log_level)
        return policycli.run(app.build(settings), argv)
    except SettingsError as exc:
        sys.stderr.write(f"warden-{app.name}: {exc}\n")
        return 2


def _reload_on_sighup(server: WardenServer) -> None:
    """SIGHUP reloads the policy file (it also reloads by itself when the file changes)."""
    import signal

    cedar = server.policy.cedar
    if cedar is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: cedar.reload("SIGHUP"))


def claude_config(app: ServerApp[Any], settings: CoreSettings, with_secrets: bool) -> dict[str, Any]:
    """A ready `mcpServers` entry: this interpreter, this package, and the settings now in effect.

    A required setting that is not set appears as a placeholder saying what it is, to be filled in.
    """
    env: dict[str, str] = {}
    for name in sorted(settings.model_fields_set - {"transport", "host", "port"}):
        env[settings.env_name(name)] = env_value(getattr(settings, name), with_secrets=with_secrets)
    for name in settings.missing():
        env[settings.env_name(name)] = f"<required: {type(settings).model_fields[name].description}>"
    entry = {"command": sys.executable, "args": ["-m", f"warden_{app.name}"], "env": dict(sorted(env.items()))}
    return {"mcpServers": {f"warden-{app.name}": entry}}


def describe_tools(server: WardenServer) -> list[dict[str, Any]]:
    """Every tool the server knows, whether this configuration exposes it, and why not."""
    return [
        {
            "name": spec.name,
            "title": spec.title,
            "group": spec.group,
            "access": str(spec.access),
            "scope": server.policy.scope_for(spec),
            "exposed": server.policy.exposes(spec),
            "hidden_because": server.policy.hidden_because(spec),
            "description": spec.description,
        }
        for spec in server.specs
    ]
