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
- output members anywhere in the answer whose names say they hold a secret, marked or not
  (`SecretAccessKey`, `SessionToken`, `PreCoPassword`, `authKey`, `ClientSecret`, ...);
- URLs in the answer that are presigned or one-time, by their names, their documentation or the
  operation's name (`preSignedUrl`, "a presigned URL valid for 5 minutes", `GetSignedBluinsightsUrl`);
- boolean input members that reveal secrets when set (`WithDecryption`, `includeValue`, ...).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

READ_VERBS = frozenset({"Describe", "List", "Get", "BatchGet", "BatchDescribe", "Head", "Search", "Lookup"})
"""Operation-name verbs that may name a read. A name alone never makes a read: the other evidence must agree."""

DRY_RUN_VERBS = frozenset({"Validate", "Simulate", "Test", "Select"})
"""Verbs of operations that compute an answer from their input and change nothing: validating a policy,
simulating IAM, rendering a template, querying recorded configuration. They are not read verbs, because some
operations named with them act: `apigateway:TestInvokeMethod` calls the backend, `elasticache:TestFailover`
fails a cluster over, `codecommit:TestRepositoryTriggers` sends notifications, `sdb:Select` returns stored
items. So each one is a read only by a recorded review (`DRY_RUNS` in the generator), never by its verb."""

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

SECRET_ENDINGS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("password",),
        ("passwords",),
        ("passwd",),
        ("passphrase",),
        ("passcode",),
        ("pin",),
        ("secret",),
        ("secrets",),
        ("plaintext",),
        ("token",),
        ("tokens",),
        ("secret", "key"),
        ("secret", "access", "key"),
        ("private", "key"),
        ("auth", "key"),
        ("api", "key"),
        ("api", "keys"),
        ("shared", "key"),
        ("session", "key"),
        ("mac", "key"),
        ("stream", "key"),
        ("key", "material"),
    }
)
"""How the name of an output member holding a secret ends, in words (`PreCoPassword`, `SecretAccessKey`,
`authKey`). Endings, not substrings: `PasswordLastUsed`, `SecretArn`, `TokenType` and `KmsKeyId` name
something about a secret, not the secret. A bare `Key` is a tag key or an S3 object key, and a name with
`Public` in it (`publicKeyMaterial`) is meant to be shared."""

NOT_SECRET_TOKEN_WORDS = frozenset(
    {
        # Pagination: NextToken, nextForwardToken, ContinuationToken, PaginationToken, uploadSequenceToken.
        "next",
        "page",
        "pagination",
        "continuation",
        "marker",
        "forward",
        "backward",
        "sequence",
        # Idempotency, echoed back: ClientToken, ClientRequestToken, IdempotencyToken, CreationToken.
        "client",
        "request",
        "idempotency",
        "creation",
        # Optimistic concurrency: LockToken, UpdateToken, versionToken, ConditionalToken, ChangeToken.
        "lock",
        "change",
        "update",
        "version",
        "conditional",
        # Addressing, like a page token: EBS BlockToken.
        "block",
        # Published on purpose: DkimTokens and VerificationToken go into DNS records.
        "dkim",
        "verification",
        # A setting, not a token: the instance metadata option HttpTokens (required or optional).
        "http",
    }
)
"""A `...Token` member is a secret unless the word before `Token` says it pages, deduplicates or versions
(or the name starts with `next`, as `nextMessageToken` does): `ClientAuthToken` would still be a secret."""

URL_WORDS = frozenset({"url", "urls", "uri", "uris", "link"})
SIGNED_WORDS = frozenset({"presigned", "signed"})
ONE_TIME_OPERATION_WORDS = frozenset({"presigned", "signed", "login", "embed", "authentication"})
"""Words in the name of an operation named for a URL that say the URL is a credential (`GetIamPortalLoginUrl`,
`GetSignedBluinsightsUrl`, `GetAuthenticationUrl`; not `GetQueueUrl`)."""

_SIGNED_DOC = re.compile(
    r"(?i)\bpre-?signed\b|\bsigned url|\bvalid for (\d+|an?|one) \w+|\bexpires? (after|in)\b|\b(temporary|one-time) url"
)
# Documentation that says a member holds the name or ARN of a secret, not the secret itself.
_REFERENCE_DOC = re.compile(
    r"(?i)^\W*((specify|provide) )?(the )?(full )?(name or )?(amazon resource name \(arn\)|arns?\b)"
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

_REVEAL_FLAG = re.compile(
    r"(?i)^(with_?decryption|include_?values?|with_?secret|reveal_?secrets?|unmask|include_?sensitive\w*)$"
)
_HIDE_FLAG = re.compile(r"(?i)^hide_?password$")

_TAG = re.compile(r"<[^>]+>")
_PRESIGNED = re.compile(r"(?i)\bpre-?signed\b")
_VERB = re.compile(r"^(BatchGet|BatchDescribe|[A-Z][a-z]*)")

MAX_REASON_PATHS = 3
"""How many secret paths a recorded reason names (the evidence keeps them all)."""

SECRET_DEPTH = 2
"""How deep (in structures, never through a list or map) a `sensitive`-marked credential may sit and still
be what an operation returns, for operations that are not reads (`iam:CreateAccessKey`, `kms:Decrypt`)."""


def words(name: str) -> tuple[str, ...]:
    """A member or operation name in lower-case words: `PreCoPassword` -> ("pre", "co", "password")."""
    return tuple(word.lower() for word in _WORD.findall(name))


def secret_name(name: str) -> bool:
    """Whether a member's name alone says it holds a secret (see SECRET_ENDINGS, NOT_SECRET_TOKEN_WORDS)."""
    parts = words(name)
    if "public" in parts:
        return False
    if parts[-1:] in {("token",), ("tokens",)}:
        return parts[0] != "next" and not NOT_SECRET_TOKEN_WORDS.intersection(parts[-2:-1])
    return any(parts[-len(ending) :] == ending for ending in SECRET_ENDINGS)


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
    credential_output: tuple[str, ...]
    """Paths of `sensitive`-marked output members named like a credential, within SECRET_DEPTH of the top:
    what a credential-minting operation returns, read or not (`.` when the whole answer is marked)."""
    secret_output: tuple[str, ...]
    """Paths of output members, at any depth, that hold a secret by their name (marked or not), or that
    botocore marks `sensitive` and names like a credential: a read that returns one is sensitive."""
    presigned_output: tuple[str, ...]
    """Paths of output URLs that are presigned or one-time (by name, documentation or the operation's name)."""
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
            "credential_output": list(self.credential_output),
            "secret_output": list(self.secret_output),
            "presigned_output": list(self.presigned_output),
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


def propose(ev: Evidence, *, reviewed_read: bool = False) -> Proposal:
    """The class the evidence supports; `reviewed_read` when a reviewer vouched that it reads."""
    read = reviewed_read or looks_read(ev)
    # A whole answer marked sensitive is a secret only for a read (or a role assumption); elsewhere it
    # marks an echo of the caller's own input (comprehend's text analysis).
    whole = ev.credential_output == (".",)
    if ev.credential_output and (not whole or read or ev.verb == "Assume"):
        return Proposal("sensitive", ("secret-output", *ev.credential_output))
    if "presigned" in ev.operation.lower():
        return Proposal("sensitive", ("presigned-url", "name"))
    if not read:
        return Proposal("write", _why_not_read(ev))
    if ev.secret_output:
        return Proposal("sensitive", ("secret-output", *ev.secret_output[:MAX_REASON_PATHS]))
    if ev.streaming_output:
        return Proposal("sensitive", ("content",))
    if ev.presigned_output:
        return Proposal("sensitive", ("presigned-url", *ev.presigned_output[:MAX_REASON_PATHS]))
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
    text = _TAG.sub(" ", doc).split()
    return text[0].strip(".,:;()").lower() if text else ""


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


def _credential_paths(shapes: Mapping[str, Any], name: str, path: str = "", depth: int = 0) -> Iterator[str]:
    if depth >= SECRET_DEPTH:
        return
    for member_name, member in _members(shapes, name).items():
        target = shapes[member["shape"]]
        where = f"{path}.{member_name}"
        if (member.get("sensitive") or target.get("sensitive")) and _marked_secret_name(member_name):
            yield where
        elif target.get("type") == "structure":
            yield from _credential_paths(shapes, member["shape"], where, depth + 1)


def _credential_output(shapes: Mapping[str, Any], output_name: str | None) -> tuple[str, ...]:
    if output_name is None:
        return ()
    if shapes[output_name].get("sensitive"):
        return (".",)  # the whole answer is marked sensitive
    return tuple(_credential_paths(shapes, output_name))


def _marked_secret_name(name: str) -> bool:
    """Named like a credential: enough to call a member botocore marks `sensitive` a secret."""
    return bool(_SECRET_MEMBER.search(name)) and not _NOT_SECRET_MEMBER.search(name)


@dataclass(frozen=True)
class _Leaf:
    """A scalar member of the answer (a list or map of scalars counts as its scalar), found by its shortest path."""

    path: str
    owner: str
    """The structure shape that declares the member."""
    name: str
    ref: Mapping[str, Any]
    """The member's reference in its structure (its documentation, its `sensitive` trait)."""
    shape: Mapping[str, Any]


def _leaves(shapes: Mapping[str, Any], output_name: str) -> Iterator[_Leaf]:
    """Every scalar member reachable from the output shape, through structures, lists and maps.

    Breadth first, and each structure once: a structure reached again (shared, or recursive) adds no new
    member, and the first path found is the shortest one to show."""
    queue = deque([(output_name, "")])
    seen = {output_name}
    while queue:
        owner, path = queue.popleft()
        for name, ref in _members(shapes, owner).items():
            where = f"{path}.{name}"
            target_name = ref["shape"]
            target = shapes[target_name]
            while target["type"] in {"list", "map"}:
                where += "[]" if target["type"] == "list" else "{}"
                target_name = target["member" if target["type"] == "list" else "value"]["shape"]
                target = shapes[target_name]
            if target["type"] != "structure":
                yield _Leaf(where, owner, name, ref, target)
            elif target_name not in seen:
                seen.add(target_name)
                queue.append((target_name, where))


def _text(leaf: _Leaf) -> bool:
    """A free-form string or blob: an enum, a number, a flag or a timestamp never holds a secret."""
    return leaf.shape["type"] in {"string", "blob"} and "enum" not in leaf.shape


def _doc(leaf: _Leaf) -> str:
    return _TAG.sub(" ", leaf.ref.get("documentation", "") + " " + leaf.shape.get("documentation", ""))


def _reference(leaf: _Leaf) -> bool:
    """The member holds an ARN or a name pointing at a secret (`DomainJoinServiceAccountSecret`, by its
    `^arn:` pattern or its documentation), not the secret."""
    return leaf.shape.get("pattern", "").lstrip("^").startswith("arn:") or bool(_REFERENCE_DOC.match(_doc(leaf)))


def _holds_secret(leaf: _Leaf) -> bool:
    if not _text(leaf) or _reference(leaf):
        return False
    marked = bool(leaf.ref.get("sensitive") or leaf.shape.get("sensitive"))
    return secret_name(leaf.name) or (marked and _marked_secret_name(leaf.name))


def _presigned(leaf: _Leaf, operation_words: frozenset[str]) -> bool:
    """A URL that works as a credential: its name or its parent's says signed (`preSignedUrl.link`), its
    documentation says presigned or expiring, or the operation's name says so (`GetIamPortalLoginUrl`)."""
    name = words(leaf.name)
    if not _text(leaf) or not name or name[-1] not in URL_WORDS:
        return False
    parent = leaf.path.replace("[]", "").replace("{}", "").split(".")[-2]
    return (
        bool(SIGNED_WORDS.intersection(words(parent) + name))
        or bool(_SIGNED_DOC.search(_doc(leaf)))
        or (bool(ONE_TIME_OPERATION_WORDS & operation_words) and bool(URL_WORDS & operation_words))
    )


def _secrets_and_urls(
    shapes: Mapping[str, Any], service: str, operation: str, output_name: str | None, not_secret: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(secret paths, presigned URL paths) of one operation's answer, minus reviewed `not_secret` members."""
    if output_name is None:
        return (), ()
    secrets, urls = [], []
    operation_words = frozenset(words(operation))
    for leaf in _leaves(shapes, output_name):
        if f"{service}:{leaf.owner}.{leaf.name}" in not_secret:
            continue
        if _holds_secret(leaf):
            secrets.append(leaf.path)
        elif _presigned(leaf, operation_words):
            urls.append(leaf.path)
    return tuple(secrets), tuple(urls)


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
    not_secret: Collection[str] = (),
) -> list[Evidence]:
    """Evidence for every operation of one service model (`service-2.json` as loaded by botocore).

    `not_secret` lists reviewed `service:Shape.member` names that look like secrets but are not."""
    shapes = model["shapes"]
    for entry in not_secret:
        owner, _, member = entry.removeprefix(f"{service}:").partition(".")
        if entry.startswith(f"{service}:") and member not in (shapes.get(owner) or {}).get("members", {}):
            raise ValueError(f"{entry} names no member of {service}'s model")
    protocol = model["metadata"].get("protocol", "")
    paginated = set((paginators or {}).get("pagination", {}))
    polled = {w.get("operation") for w in (waiters or {}).get("waiters", {}).values()}
    out = []
    for name, op in sorted(model["operations"].items()):
        input_name = op.get("input", {}).get("shape")
        output_name = op.get("output", {}).get("shape")
        match = _VERB.match(name)
        secrets, urls = _secrets_and_urls(shapes, service, name, output_name, not_secret)
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
                credential_output=_credential_output(shapes, output_name),
                secret_output=secrets,
                presigned_output=urls,
                reveal_flags=_reveal_flags(shapes, input_name),
            )
        )
    return out


def all_evidence(services: list[str] | None = None, *, not_secret: Collection[str] = ()) -> dict[str, list[Evidence]]:
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
        result[service] = service_evidence(service, model, extras[0], extras[1], not_secret)
    return result
