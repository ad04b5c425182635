"""Confirmation before a write: the user, not the model, says yes.

A write tool declares a parameter `confirmation: Confirmed = Resolve(ask)` where `ask` returns
`Elicit(message, Confirm)`. The SDK carries the question to the client in either protocol era
(a server-to-client request, or an input-required result). A client that cannot ask its user gets
error -32021 from the SDK: the write is refused, never performed unconfirmed.

The question often quotes backend data (a preview of the text to post), so it passes the egress
filter like an answer does: a credential in it is masked before the user, or the model, sees it.
"""

from __future__ import annotations

from mcp.server.mcpserver import Elicit, ElicitationResult
from mcp.server.mcpserver.resolve import Resolve
from pydantic import BaseModel, Field

from warden_core.egress import mask_text
from warden_core.errors import PolicyDenied


class Confirm(BaseModel):
    confirm: bool = Field(description="Tick to go ahead.")


def ask(message: str) -> Elicit[Confirm]:
    return Elicit(mask_text(message), Confirm)


def require_confirmed(outcome: ElicitationResult[Confirm], what: str) -> None:
    """Raise unless the user accepted and ticked the box."""
    if outcome.action != "accept" or outcome.data is None or not outcome.data.confirm:
        raise PolicyDenied(f"{what} was not confirmed by the user; nothing was changed")


__all__ = ["Confirm", "Elicit", "ElicitationResult", "Resolve", "ask", "require_confirmed"]
