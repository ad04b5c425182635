"""Evidence about each AWS API operation, read from botocore's service models (which botocore ships as data).

This module is what the classification is derived from. `scripts/aws_classify.py` walks every service
model, computes an `Evidence` per operation and proposes a class; the reviewed result is committed as
`warden_aws/data/classification.json`. The tests re-derive the evidence from the installed botocore and
check every committed read against it, so a read is never a guess from the operation's name alone.

The server itself never imports this module: at run time it only reads the committed data.

What counts as evidence (all of it from the model files, none from the operation's name alone):
- the HTTP binding: `PUT`, `PATCH` and `DELETE` never read;
- an input member with the `idempotencyToken` trait (only mutating calls carry one);
- a streaming input (an upload) or a streaming/event-stream output (data-plane content);
- whether the operation has an output at all;
- the first word of its documentation ("Returns", "Lists" against "Creates", "Deletes");
- whether a paginator or a waiter polls it (waiters poll state, so they only poll reads);
- output members botocore marks `sensitive` whose names say they hold a credential or a secret;
- boolean input members that reveal secrets when set (`WithDecryption`, `includeValue`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

READ_VERBS = frozenset({"Describe", "List", "Get", "BatchGet", "BatchDescribe", "Head", "Search", "Lookup"})
"""Operation-name verbs that may name a read. A name alone never makes a read: the other evidence must agree."""

READ_DOC_VERBS = frozenset(
    {
        "returns",
        "return",
        "lists",
        "list",
        "describes",
        "describe",
        "retrieves",
        "retrieve",
        "gets",
        "get",
        "provides",
        "displays",
        "searches",
        "fetches",
        "fetch",
        "obtains",
        "shows",
        "show",
        "views",
        "view",
        "looks",
        "finds",
        "queries",
    }
)
"""First words of documentation that describe reading. Needed, with a paginator, a waiter or an HTTP GET,
before an operation without a read verb in its name (such as `logs:FilterLogEvents`) can be a read."""

WRITE_DOC_VERBS = frozenset(
    {
        "accepts",
        "activates",
        "add",
        "adds",
        "allocates",
        "apply",
        "applies",
        "archives",
        "assigns",
        "associates",
        "attaches",
        "authorizes",
        "cancels",
        "changes",
        "converts",
        "copies",
        "create",
        "creates",
        "deactivates",
        "delete",
        "deletes",
        "deregisters",
        "detaches",
        "disables",
        "disassociates",
        "download",
        "downloads",
        "enables",
        "exchanges",
        "executes",
        "exports",
        "generate",
        "generates",
        "grants",
        "imports",
        "initiates",
        "invokes",
        "issues",
        "makes",
        "merges",
        "modifies",
        "moves",
        "publishes",
        "puts",
        "reboots",
        "registers",
        "rejects",
        "releases",
        "remove",
        "removes",
        "replaces",
        "request",
        "requests",
        "resets",
        "restores",
        "revokes",
        "rotates",
        "runs",
        "schedules",
        "sends",
        "sets",
        "starts",
        "stop",
        "stops",
        "streams",
        "submits",
        "suspends",
        "tags",
        "terminates",
        "triggers",
        "untags",
        "update",
        "updates",
        "uploads",
        "writes",
    }
)
"""First words of documentation that describe a change, or content leaving the service: never a read
unless a reviewer says otherwise (`REVIEWED` in the generator, recorded in the data)."""

_SECRET_MEMBER = re.compile(
    r"(?i)(secret|password|passphrase|passwd|credential|private_?key|plaintext|token|api_?key|key_?material)"
)
# Names that only refer to a secret (its ARN or id), or page through results, are not secrets themselves.
_NOT_SECRET_MEMBER = re.compile(
    r"(?i)(next|page|continuation|pagination|marker)|(arn|id|ids|name|type|status|expiration|url|endpoint)$"
)

_REVEAL_FLAG = re.compile(
    r"(?i)^(with_?decryption|include_?values?|with_?secret|reveal_?secrets?|unmask|include_?sensitive\w*)$"
)
_HIDE_FLAG = re.compile(r"(?i)^hide_?password$")

_TAG = re.compile(r"<[^>]+>")
_PRESIGNED = re.compile(r"(?i)\bpre-?signed\b")
_VERB = re.compile(r"^(BatchGet|BatchDescribe|[A-Z][a-z]*)")

SECRET_DEPTH = 2
"""How deep (in structures, never through a list or map) a secret member may sit and still be what the
operation returns, rather than an incidental field of an inventory listing (which is masked instead)."""


@dataclass(frozen=True)
class Evidence:
    service: str
    operation: str
    verb: str
    protocol: str
    method: str
    has_output: bool
    idempotency_token: bool
    streaming_input: bool
    streaming_output: bool
    paginated: bool
    waiter: bool
    doc_verb: str
    presigned_doc: bool
    secret_output: tuple[str, ...]
    """Paths of `sensitive` output members named like a credential, within SECRET_DEPTH of the top."""
    reveal_flags: tuple[str, ...]
    """Boolean input members that make the answer contain secrets: `Name` (when true) or `!Name` (when false)."""

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "method": self.method,
            "output": self.has_output,
            "idempotency_token": self.idempotency_token,
            "streaming_in": self.streaming_input,
            "streaming_out": self.streaming_output,
            "paginated": self.paginated,
            "waiter": self.waiter,
            "doc_verb": self.doc_verb,
            "presigned_doc": self.presigned_doc,
            "secret_output": list(self.secret_output),
            "reveal_flags": list(self.reveal_flags),
        }


@dataclass(frozen=True)
class Proposal:
    cls: str  # "read", "sensitive" or "write"
    reasons: tuple[str, ...]
    condition: str | None = None  # for reads that reveal secrets only when a flag is set


def structurally_read(ev: Evidence) -> bool:
    """The hard invariants every read satisfies, whatever a reviewer says."""
    return (
        ev.method in {"GET", "HEAD", "POST"} and ev.has_output and not ev.idempotency_token and not ev.streaming_input
    )


def looks_read(ev: Evidence) -> bool:
    """The data says read: structure, documentation, and the name or how the operation is polled."""
    if not structurally_read(ev) or ev.doc_verb in WRITE_DOC_VERBS:
        return False
    if ev.verb in READ_VERBS:
        return True
    return ev.doc_verb in READ_DOC_VERBS and (ev.paginated or ev.waiter or ev.method in {"GET", "HEAD"})


def propose(ev: Evidence) -> Proposal:
    """The class the evidence alone supports (before review)."""
    read = looks_read(ev)
    # A whole answer marked sensitive is a secret only for a read (or a role assumption); elsewhere it
    # marks an echo of the caller's own input (comprehend's text analysis).
    whole = ev.secret_output == (".",)
    if ev.secret_output and (not whole or read or ev.verb == "Assume"):
        return Proposal("sensitive", ("secret-output", *ev.secret_output))
    if "presigned" in ev.operation.lower():
        return Proposal("sensitive", ("presigned-url", "name"))
    if not read:
        return Proposal("write", _why_not_read(ev))
    if ev.streaming_output:
        return Proposal("sensitive", ("content",))
    if ev.presigned_doc:
        return Proposal("sensitive", ("presigned-url", "documentation"))
    if ev.reveal_flags:
        return Proposal("read", ("looks-read",), condition=ev.reveal_flags[0])
    return Proposal("read", ("looks-read",))


def _why_not_read(ev: Evidence) -> tuple[str, ...]:
    reasons = []
    if ev.method not in {"GET", "HEAD", "POST"}:
        reasons.append(f"http-{ev.method.lower()}")
    if not ev.has_output:
        reasons.append("no-output")
    if ev.idempotency_token:
        reasons.append("idempotency-token")
    if ev.streaming_input:
        reasons.append("streaming-input")
    if ev.doc_verb in WRITE_DOC_VERBS:
        reasons.append(f"doc-{ev.doc_verb}")
    if not reasons:
        reasons.append(f"verb-{ev.verb.lower()}")
    return tuple(reasons)


# --- Reading the models. -------------------------------------------------------------------------------


def _doc_verb(doc: str) -> str:
    words = _TAG.sub(" ", doc).split()
    return words[0].strip(".,:;()").lower() if words else ""


def _members(shapes: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    shape = shapes[name]
    return shape.get("members", {}) if shape.get("type") == "structure" else {}


def _has_trait(
    shapes: Mapping[str, Any], name: str, trait: str, depth: int = 0, seen: frozenset[str] = frozenset()
) -> bool:
    if depth > 3 or name in seen:
        return False
    for member in _members(shapes, name).values():
        if member.get(trait) or _has_trait(shapes, member["shape"], trait, depth + 1, seen | {name}):
            return True
    return False


def _streams(shapes: Mapping[str, Any], name: str | None) -> bool:
    """A streaming blob or an event stream, on the shape itself or on any member (the payload)."""
    if name is None:
        return False
    shape = shapes[name]
    if shape.get("streaming") or shape.get("eventstream"):
        return True
    for member in _members(shapes, name).values():
        target = shapes[member["shape"]]
        if member.get("streaming") or target.get("streaming") or target.get("eventstream"):
            return True
    return False


def _secret_paths(shapes: Mapping[str, Any], name: str, path: str = "", depth: int = 0) -> Iterator[str]:
    if depth >= SECRET_DEPTH:
        return
    for member_name, member in _members(shapes, name).items():
        target = shapes[member["shape"]]
        where = f"{path}.{member_name}"
        secret_name = _SECRET_MEMBER.search(member_name) and not _NOT_SECRET_MEMBER.search(member_name)
        if (member.get("sensitive") or target.get("sensitive")) and secret_name:
            yield where
        elif target.get("type") == "structure":
            yield from _secret_paths(shapes, member["shape"], where, depth + 1)


def _secret_output(shapes: Mapping[str, Any], output_name: str | None) -> tuple[str, ...]:
    if output_name is None:
        return ()
    if shapes[output_name].get("sensitive"):
        return (".",)  # the whole answer is marked sensitive
    return tuple(_secret_paths(shapes, output_name))


def _reveal_flags(shapes: Mapping[str, Any], input_name: str | None) -> tuple[str, ...]:
    if input_name is None:
        return ()
    flags = []
    for member_name, member in _members(shapes, input_name).items():
        if shapes[member["shape"]].get("type") != "boolean":
            continue
        if _REVEAL_FLAG.match(member_name):
            flags.append(member_name)
        elif _HIDE_FLAG.match(member_name):
            flags.append(f"!{member_name}")
    return tuple(flags)


def service_evidence(
    service: str,
    model: Mapping[str, Any],
    paginators: Mapping[str, Any] | None = None,
    waiters: Mapping[str, Any] | None = None,
) -> list[Evidence]:
    """Evidence for every operation of one service model (`service-2.json` as loaded by botocore)."""
    shapes = model["shapes"]
    protocol = model["metadata"].get("protocol", "")
    paginated = set((paginators or {}).get("pagination", {}))
    polled = {w.get("operation") for w in (waiters or {}).get("waiters", {}).values()}
    out = []
    for name, op in sorted(model["operations"].items()):
        input_name = op.get("input", {}).get("shape")
        output_name = op.get("output", {}).get("shape")
        match = _VERB.match(name)
        out.append(
            Evidence(
                service=service,
                operation=name,
                verb=match.group(1) if match else name,
                protocol=protocol,
                method=op.get("http", {}).get("method", "POST").upper(),
                has_output=output_name is not None,
                idempotency_token=input_name is not None and _has_trait(shapes, input_name, "idempotencyToken"),
                streaming_input=_streams(shapes, input_name),
                streaming_output=_streams(shapes, output_name),
                paginated=name in paginated,
                waiter=name in polled,
                doc_verb=_doc_verb(op.get("documentation", "")),
                presigned_doc=bool(_PRESIGNED.search(op.get("documentation", ""))),
                secret_output=_secret_output(shapes, output_name),
                reveal_flags=_reveal_flags(shapes, input_name),
            )
        )
    return out


def all_evidence(services: list[str] | None = None) -> dict[str, list[Evidence]]:
    """Evidence for every service botocore ships (or the ones named), keyed by service name."""
    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import create_loader

    loader = create_loader()
    names = services if services is not None else sorted(loader.list_available_services("service-2"))
    result = {}
    for service in names:
        model = loader.load_service_model(service, "service-2")
        extras = []
        for kind in ("paginators-1", "waiters-2"):
            try:
                extras.append(loader.load_service_model(service, kind))
            except DataNotFoundError:
                extras.append(None)
        result[service] = service_evidence(service, model, extras[0], extras[1])
    return result
