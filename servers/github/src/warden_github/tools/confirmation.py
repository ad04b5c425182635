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

The question shows every text the write will post, whole and exactly as it will be posted:
hidden characters are stripped (`posted`, which the tools also send), each text stands inside a
fence longer than any run of backticks in it (so nothing in it can pass for the server's own
words, nor hide as an HTML comment in a client that renders Markdown), and a text too long to
show whole (over `MAX_SHOWN` characters) is refused before the user is asked.

The core checks the allowlists before any resolver runs, so a refused repository is never put
to the user and never looked up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mcp.server.mcpserver import Context

from warden_core import InvalidArgument, WardenServer
from warden_core.confirm import Confirm, Elicit, ask
from warden_core.text import strip_invisible
from warden_github.tools.common import Deps

MAX_SHOWN = 4000  # characters of a body the user is shown (and can be expected to read) before a write

_GO_AHEAD = Confirm(confirm=True)
_BACKTICKS = re.compile(r"`+")


def deps_of(ctx: Context) -> Deps:
    deps = WardenServer.of(ctx).runtime
    assert isinstance(deps, Deps)
    return deps


def posted(text: str) -> str:
    """What a write sends of a text the model wrote: hidden characters could smuggle text past the people reading it."""
    return strip_invisible(text)


async def confirmation(
    ctx: Context, repo: str, action: str, posts: Mapping[str, str] | None = None, *, adds_text: bool = True
) -> Confirm | Elicit[Confirm]:
    """Ask the user about `action` on `repo`, showing the texts it `posts` (by label), when the settings say so."""
    deps = deps_of(ctx)
    mode = deps.settings.confirm_writes
    if mode == "none" or (mode == "public" and not adds_text):
        return _GO_AHEAD
    if mode == "public" and await deps.client.is_private(repo):
        return _GO_AHEAD
    question = "\n\n".join([action, *(shown(label, text) for label, text in (posts or {}).items())])
    if mode == "public":
        return ask(f"{question}\n\n{repo} is not a private repository: anyone who can read it will see this. Go ahead?")
    return ask(f"{question}\n\nGo ahead?")


def shown(label: str, written: str) -> str:
    """A text whole and as it will be posted, fenced; InvalidArgument when it is too long to show whole."""
    text = posted(written)
    if not text:
        return f"{label}: (empty)"
    if len(text) > MAX_SHOWN:
        raise InvalidArgument(
            f"the {label.lower()} to post has {len(text)} characters; a write the user confirms shows all of it, "
            f"and at most {MAX_SHOWN} characters fit: shorten it, or split it into several writes"
        )
    fence = "`" * max(3, 1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))
    lines = text.count("\n") + 1
    size = f"{len(text)} characters, {lines} line{'s' if lines > 1 else ''}"
    if len(written) > len(text):
        size += f"; {len(written) - len(text)} hidden characters removed"
    return f"{label}, exactly as it will be posted ({size}):\n{fence}\n{text}\n{fence}"
