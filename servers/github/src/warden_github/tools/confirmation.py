"""Which writes ask the user first, and how a resolver finds its server.

Every write tool here adds content (an issue, a comment, a pull request, labels); none deletes
or overwrites anything, so none is `destructive`. The risk they carry is exfiltration: a write
to a repository other people can read is the channel of the "toxic agent flow" (a poisoned issue
steers the agent into publishing private data). So, with `WARDEN_GITHUB_CONFIRM_WRITES`:

- `public` (default): writes to a repository that is not private (public or internal) ask the
  user; writes to private repositories do not. Adding labels never asks: it can only apply
  labels that already exist, so it carries no new text.
- `all`: every write asks, labels included.
- `none`: no write asks (the write allowlist still applies).

Confirmation uses elicitation, which works in both protocol eras. A client that cannot ask its
user gets error -32021 and nothing is written.

The core checks the allowlists before any resolver runs, so a refused repository is never put
to the user and never looked up.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context

from warden_core import WardenServer
from warden_core.confirm import Confirm, Elicit, ask
from warden_github.tools.common import Deps

_GO_AHEAD = Confirm(confirm=True)


def deps_of(ctx: Context) -> Deps:
    deps = WardenServer.of(ctx).runtime
    assert isinstance(deps, Deps)
    return deps


async def confirmation(ctx: Context, repo: str, action: str, *, adds_text: bool = True) -> Confirm | Elicit[Confirm]:
    """Ask the user about `action` on `repo` when the settings say so; otherwise go ahead."""
    deps = deps_of(ctx)
    mode = deps.settings.confirm_writes
    if mode == "none" or (mode == "public" and not adds_text):
        return _GO_AHEAD
    if mode == "public":
        if await deps.client.is_private(repo):
            return _GO_AHEAD
        return ask(f"{action}\n\n{repo} is not a private repository: anyone who can read it will see this. Go ahead?")
    return ask(f"{action}\n\nGo ahead?")


def preview(body: str, limit: int = 600) -> str:
    body = body.strip()
    if not body:
        return "(empty body)"
    return body if len(body) <= limit else body[:limit] + " …"
