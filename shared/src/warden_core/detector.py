"""The one secret detector: what counts as a credential, found in a single linear-time pass.

Logs, audit events, error texts (`redaction`) and every answer that carries backend data
(`egress`) ask this module, so they all mask the same things:

- provider tokens by their documented formats (GitHub, GitLab, Slack, AWS, GCP, Stripe, OpenAI,
  Anthropic, npm, PyPI, ...), JWTs, and PEM/OpenSSH private-key blocks across lines;
- credentials in URLs (`user:password@`, `?token=`, `&sig=`, `X-Amz-Signature`, ...);
- `key = value`, `KEY: value`, `"key": "value"` pairs whose key names a secret (env, YAML, INI,
  JSON, HTTP headers), with the key classified word by word so `NextToken`, `secretName` or
  `max_tokens` are left alone;
- the exact values of the server's own credentials (registered when settings load), and the
  operator's extra patterns and values.

There are no guesses from entropy alone: a value is masked only when it has a known format or
sits under a secret-named key. Every rule compiles into one RE2 program (PyPI `google-re2`), so a
scan is one pass in time linear in the text, whatever the text holds.

A masked value becomes a typed marker, `[masked: github-token]`, never longer than what it
replaces (it shrinks to `[masked]` or `***` when the secret is shorter), so masking never makes
a result grow past its cap.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import re2

MARKER_PREFIX = "[masked"
_SHORT_MARKER = "[masked]"


def marker(kind: str, room: int | None = None) -> str:
    """The marker for a masked `kind`, fitted into `room` characters when given."""
    full = f"[masked: {kind}]"
    if room is None or len(full) <= room:
        return full
    if len(_SHORT_MARKER) <= room:
        return _SHORT_MARKER
    return "*" * min(room, 3)


_MARKERS_ONLY = re.compile(r"^(?:[\s\"',;]|\*+|\[masked(?:: [a-z0-9\-]+)?\])+$")


def is_marker(value: str) -> bool:
    """Already masked (markers and stars only): masking it again must change nothing."""
    return bool(value.strip()) and bool(_MARKERS_ONLY.match(value))


# --- Secret-named keys. ---------------------------------------------------------------------------------
# Whether a key (an env var, a YAML/JSON key, a header, a query parameter) names a secret is decided
# on its words: `DB_PASS`, `clientSecret`, `X-Api-Key`, `JWT_SIGNING_KEY` do; `secretName`,
# `NextToken`, `max_tokens`, `password_policy`, `public_key` do not. The last word decides.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# A last word that names a secret on its own; also as the end of a run-together word (`pgpassword`).
_SECRET_WORDS = {
    "password": "password",
    "passwd": "password",
    "passphrase": "password",
    "secret": "secret",
    "token": "token",
    "apikey": "api-key",
    "credential": "secret",
    "credentials": "secret",
}
# Last words that name a secret only as whole words (`bypass`, `oauth`, `compass` are not secrets).
_WHOLE_WORDS = {
    "pass": "password",
    "pwd": "password",
    "auth": "token",
    "authorization": "token",
    "cookie": "token",
    "sas": "token",
    "pat": "token",
}
# `<qualifier> key`: which keys are keys to something (`api_key`, `signingKey`), not lookup keys.
_KEY_QUALIFIERS = {
    "api": "api-key",
    "access": "api-key",
    "secret": "api-key",
    "private": "private-key",
    "signing": "signing-key",
    "sign": "signing-key",
    "encryption": "encryption-key",
    "encrypt": "encryption-key",
    "crypt": "encryption-key",
    "cipher": "encryption-key",
    "hmac": "signing-key",
    "mac": "signing-key",
    "jwt": "signing-key",
    "account": "api-key",
    "master": "encryption-key",
    "client": "api-key",
    "app": "api-key",
    "auth": "api-key",
    "session": "api-key",
    "license": "api-key",
    "ssh": "private-key",
    "webhook": "api-key",
    "storage": "api-key",
}
# `<qualifier> token` that names a cursor or an id, not a credential.
_NOT_SECRET_TOKENS = frozenset(
    {
        "next",
        "page",
        "pagination",
        "continuation",
        "sync",
        "forward",
        "backward",
        "resume",
        "client",
        "idempotency",
        "cancel",
        "start",
        "marker",
        "max",
        "min",
        "num",
        "csrf",
        "xsrf",
    }
)
_SECRET_STRINGS = frozenset({"string", "value", "binary", "data"})


def key_kind(key: str) -> str | None:
    """The kind of secret a key names (`password`, `token`, `api-key`, ...), or None."""
    words = [word.lower() for word in _WORDS.findall(key)]
    if not words:
        return None
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    if last == "key":
        if before == "access" and len(words) > 2 and words[-3] == "secret":
            return "aws-secret-key"
        if before == "access" and len(words) > 2 and words[-3] == "shared":
            return "azure-key"
        if before == "account":
            return "azure-key"
        return _KEY_QUALIFIERS.get(before)
    if last in _SECRET_STRINGS and before == "secret":  # SecretString, secret_value
        return "secret"
    if last in _WHOLE_WORDS:
        return _WHOLE_WORDS[last]
    if last == "token" and before in _NOT_SECRET_TOKENS:
        return None
    if last == "secret" and before == "aws":
        return "aws-secret-key"
    for word, kind in _SECRET_WORDS.items():
        if last == word:
            return kind
        if last.endswith(word) and len(last) > len(word):
            head = last[: -len(word)]
            if word == "token" and head in _NOT_SECRET_TOKENS:
                return None
            return kind
    if last in {"connectionstring", "connstr"} or (last == "string" and before in {"connection", "conn"}):
        return "secret"
    return None


# --- Values that are not secrets even under a secret-named key. ------------------------------------------
_NOT_VALUES = frozenset(
    {
        # flags and emptiness
        *("true", "false", "null", "none", "nil", "yes", "no", "on", "off", "undefined", "required", "optional"),
        *("n/a", "redacted", "[redacted]", "[masked]", "[sensitive]", "<redacted>", "(redacted)", "changeme"),
        # type names and keywords: `token: str`, `secret = await fetch()`, `password: SecretStr`
        *("str", "string", "int", "bytes", "bool", "secretstr", "any", "object", "await", "lambda", "not", "yield"),
        *("new", "function", "async", "typeof", "return", "self", "this", "cls", "if", "else"),
        # authorization schemes without their credential: `Authorization: Bearer <token>`
        *("bearer", "basic", "token", "digest", "negotiate", "ntlm"),
    }
)
_PLACEHOLDER = re.compile(
    r"""^(?:
        \$\{.*\}$ | \$\(.*\)$ | \$[A-Za-z_][A-Za-z0-9_]*$ | \{\{.*\}\}$ | <[^<>]*>$ | %\(?\w*\)?s$
        | \#\{.*\}$ | @@.*@@$ | x{3,}$ | .*(?:\.\.\.|…)$
    )""",
    re.VERBOSE | re.IGNORECASE,
)
# Source code, not configuration: `password=settings.password`, `key=get_key()`, `SECRET = NAMES[3]`,
# annotations such as `token: str = Field(` or `items, token = await ...`; a YAML block indicator alone.
_CODE = re.compile(
    r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(.*)?$|^[A-Za-z_][\w.]*[(\[]|^[\[({]"
    r"|^[A-Za-z_][\w.]*(?:\[.*\])?\s+(?:\||=|[-+*/%&])\s|^[|>][+\-0-9]{0,2}$"
)
_CODE_KEY = re.compile(r"^(?:self|this|cls|ctx|args|opts|options|config|settings)\.|^[@$]")


_SEPARATORS = str.maketrans("", "", " \t_.-\"'")


def _normal(name: str) -> str:
    return name.translate(_SEPARATORS).lower()


def plain_value(value: str, key: str = "", *, shortest: int = 3) -> bool:
    """True when `value`, found under the secret-named `key`, is clearly not a secret: empty or a
    flag, a placeholder, a marker, a type name, or a reference in source code (`token=token`)."""
    stripped = value.strip().strip("\"'").strip()
    first = stripped.split(maxsplit=1)[0].rstrip(",;)") if stripped else ""
    if len(stripped) < shortest or is_marker(stripped):
        return True
    if stripped.lower() in _NOT_VALUES or first.lower() in _NOT_VALUES:
        return True
    if key:
        normal_key = _normal(key)
        if normal_key in (_normal(first), _normal(stripped)) or _CODE_KEY.match(key):
            return True
    return any(pattern.match(text) for pattern in (_PLACEHOLDER, _CODE) for text in (stripped, first))


def prose(value: str) -> bool:
    """`the credential: a dedicated role`: after `key:` in running text, plain words go on."""
    words = value.split()
    return len(words) > 1 and words[0].isalpha() and words[1][:1].isalpha()


# --- The rules. -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One kind of secret.

    `pattern` (RE2 syntax) finds where a secret starts; a group named `v` marks the part to mask
    (otherwise the whole match). RE2 matches stay short and bounded; a secret that runs on (a long
    token, a quoted value, a PEM body) is followed to its end by `extend`, a Python bytes pattern
    of simple character runs applied where the match (or its `v`) ends. Both steps are linear.
    """

    kind: str
    pattern: str
    extend: str | None = None
    check: Callable[[str], bool] | None = None
    """Confirms a candidate (the part to mask); False leaves it alone."""


def _not_placeholder(value: str) -> bool:
    """`scheme://user:password@host` and `?token=...` in documentation are examples, not secrets."""
    return not plain_value(value) and value.lower() not in _EXAMPLE_WORDS


_EXAMPLE_WORDS = frozenset({"password", "passwd", "pass", "secret", "token", "pwd", "changeme", "example"})


def _has_digit_and_letter(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _is_basic_credential(value: str) -> bool:
    """`Basic <b64>` carries `user:password`; ordinary words after "basic" do not decode to that."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return ":" in decoded and decoded.isprintable()


# A key of key characters ending with a word that may name a secret (`key_kind` decides on its words).
# The word that may end a secret-named key; the words before it are read back in Python (`_key_start`),
# so RE2 never runs a key-character counter from every position of ordinary text.
_TERM = (
    r"(?i:pass(?:word|wd|phrase)?|pwd|secret|token|auth|authorization|credentials?|cookie|sas"
    r"|(?:api|access|secret|private|signing|sign|encryption|encrypt|crypt|cipher|hmac|mac|jwt|account|master"
    r"|client|app|auth|session|license|ssh|webhook|storage)[_.\-]?key|apikey"
    r"|secret[_.\-]?(?:string|value|binary|data)|conn(?:ection)?[_.\-]?str(?:ing)?)"
)
_SCHEMES = (
    r"(?i:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256|gssapi|apikey|sharedkey(?:lite)?|sso-key)[ \t]+"
)
_PEM_BEGIN = r"-{4,5} ?BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)? ?-{4,5}"
_PEM_END = r"-{4,5} ?END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)? ?-{4,5}"

# Where a value starts, in each form; the value's group name tells `_VALUE_END` how it ends.
#   dq: "double-quoted" (JSON escapes)   sq: 'single-quoted'   eq: \"escaped quotes\"
#   blk: a YAML block scalar (the indented lines below)   line: the rest of the line   run: up to a delimiter
_LINE_VALUE = r"\"(?P<dq>)|'(?P<sq>)|\\\"(?P<eq>)|[|>][+\-0-9]{0,2}[ \t]*\r?\n(?P<blk>)|(?P<line>[^\s\"'])"
_INLINE_VALUE = r"\"(?P<dq>)|'(?P<sq>)|\\{1,3}\"(?P<eq>)|(?P<run>[^\s\"'\\,;&<>{}\[\]()|`])"
_VALUE_END = {
    "dq": rb'(?:[^"\\\n]|\\.)*',
    "sq": rb"[^'\n]*",
    "eq": rb'[^"\\\n]*',
    "blk": rb"(?:[ \t]+[^\n]*(?:\n|$))*",
    "line": rb"[^\r\n]*",
    "run": rb"[^\s\"'\\,;&<>{}\[\]()|`]*",
}
# A PEM body: base64, header lines (`Proc-Type: 4,ENCRYPTED`), whitespace, escaped newlines; never `--`.
_PEM_BODY = rb"(?:[A-Za-z0-9+/=:,. \t\r\n]|\\[nrt]|-(?!-))*(?:" + _PEM_END.encode() + rb")?"

RULES: tuple[Rule, ...] = (
    # Private keys, across lines, also JSON-escaped; a block cut short is masked to the end of its body.
    Rule("private-key", _PEM_BEGIN, extend=_PEM_BODY.decode()),
    # The end of a key whose BEGIN line was cut off (a log tail): masked back over the base64 before it.
    Rule("private-key-tail", _PEM_END),
    Rule("private-key", r"PuTTY-User-Key-File-\d+:", extend=r"(?:[^\n]*\n){0,80}?Private-MAC: [0-9a-fA-F]+"),
    # Provider tokens, by their documented formats.
    Rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40})", extend=r"[A-Za-z0-9_]*"),
    Rule(
        "gitlab-token",
        r"\b(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas|ffct|wt)-|GR1348941)[A-Za-z0-9_\-]{20}",
        extend=r"[A-Za-z0-9_\-]*",
    ),
    Rule(
        "slack-webhook",
        r"h(?:tt|xx)ps://hooks(?:\.|\[\.\])slack(?:-gov)?(?:\.|\[\.\])com/(?:services|workflows|triggers)/[A-Za-z0-9_]",
        extend=r"[A-Za-z0-9_/\-]*",
    ),
    Rule("slack-token", r"\b(?:xox(?:[abposrc]|e(?:\.xox[bp])?)-|xapp-\d-)[A-Za-z0-9\-]{10}", extend=r"[A-Za-z0-9\-]*"),
    # An AWS key pair side by side (a credentials CSV, a log line): the unlabelled secret key too.
    Rule(
        "aws-secret-key",
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b[\s,;:|\"'=]{1,8}[A-Za-z0-9/+]{40}\b",
    ),
    Rule("aws-access-key-id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    Rule("gcp-api-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    Rule("gcp-client-secret", r"\bGOCSPX-[A-Za-z0-9_\-]{28}"),
    Rule(
        "stripe-key", r"\b(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10}|whsec_[A-Za-z0-9+/]{24})", extend=r"[0-9A-Za-z+/]*"
    ),
    Rule("anthropic-key", r"\bsk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_\-]{32}", extend=r"[A-Za-z0-9_\-]*"),
    Rule(
        "openai-key",
        r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{16,200}T3BlbkFJ[A-Za-z0-9_\-]{16}",
        extend=r"[A-Za-z0-9_\-]*",
    ),
    Rule("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    Rule("pypi-token", r"\bpypi-AgE[A-Za-z0-9_\-]{50}", extend=r"[A-Za-z0-9_\-]*"),
    Rule("sendgrid-key", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"),
    Rule("huggingface-token", r"\bhf_[A-Za-z0-9]{34}", extend=r"[A-Za-z0-9]*"),
    Rule("vault-token", r"\bhv[sbr]\.[A-Za-z0-9_\-]{24}", extend=r"[A-Za-z0-9_\-]*"),
    Rule("docker-token", r"\bdckr_(?:pat|oat)_[A-Za-z0-9_\-]{20}", extend=r"[A-Za-z0-9_\-]*"),
    Rule("digitalocean-token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    Rule("shopify-token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    Rule("jwt", r"\beyJ[A-Za-z0-9_\-]{10,400}\.eyJ[A-Za-z0-9_\-]{10}", extend=r"[A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]*)?"),
    # Credentials in URLs: the password of `scheme://user:password@host`, and signing/token parameters.
    Rule(
        "url-password",
        r"://[^\s:/?#@\"'<>\[\]]{0,64}:(?P<v>[^\s/?#@\"'<>]{1,128})@",
        check=_not_placeholder,
    ),
    Rule(
        "url-token",
        r"[?&#;](?i:access_token|refresh_token|id_token|auth_token|private_token|token|api[_\-]?key|sig|signature"
        r"|x-amz-signature|x-amz-security-token|x-goog-signature|password|passwd|pwd|secret|client_secret|jwt)"
        r"=(?P<v>[A-Za-z0-9%_\-~.+/=])",
        extend=r"[^&#\s\"'<>\\]*",
        check=_not_placeholder,
    ),
    # Secret-named pairs. A key at the start of a line (env files, INI, YAML) owns the rest of the line,
    # or an indented YAML block below it; elsewhere (a log line, JSON, a header) the value ends at a delimiter.
    Rule(
        "secret-line",
        rf"(?m)^[ \t]*(?:export[ \t]+|-[ \t]+)?[\"']?(?P<k>[A-Za-z0-9_.\-]{{0,64}}{_TERM})[\"']?[ \t]*[:=][ \t]*"
        rf"(?:{_SCHEMES})?(?:{_LINE_VALUE})",
    ),
    Rule(
        "secret-pair", rf"(?P<k>{_TERM})(?:\\{{0,3}}[\"'])?[ \t]*(?::=|=>|[:=])[ \t]*(?:{_SCHEMES})?(?:{_INLINE_VALUE})"
    ),
    # Authorization schemes anywhere: a bearer token that is not a plain word, a Basic user:password.
    Rule(
        "bearer-token",
        r"\b(?i:bearer)[ \t]+(?P<v>[A-Za-z0-9._~+/\-]{16})",
        extend=r"[A-Za-z0-9._~+/\-]*=*",
        check=_has_digit_and_letter,
    ),
    Rule(
        "basic-auth",
        r"\b(?i:basic)[ \t]+(?P<v>[A-Za-z0-9+/]{8})",
        extend=r"[A-Za-z0-9+/]*={0,2}",
        check=_is_basic_credential,
    ),
)
_PAIRS = frozenset({"secret-line", "secret-pair"})
"""Rules whose kind comes from the key's words (`password`, `token`, `api-key`, ...)."""

_BASE64_LINE = re.compile(rb"[ \t]*[A-Za-z0-9+/]{16,}={0,2}[ \t]*\r?$")


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str


_UNANCHORED = re2._Anchor.UNANCHORED
DENSE = "dense-candidates"
"""The kind of a piece of hostile text masked without a closer look."""
_BUDGET_BASE = 128
_BUDGET_BYTES = 2048
"""Candidates looked at closely per text: 128, plus one per 2 KiB (this repository has one per 9 KiB)."""
_SHORTEST_TOKEN = 20
"""No provider token is shorter: a shorter value under a secret-named key is not checked for one."""
_DENSE_PIECE = 4096
_CLASSIFY_BYTES = 512
"""How much of a key or value the word checks read: enough to judge, bounded whatever the input."""
_EXTEND_BYTES = 16384
"""The longest run a secret is followed over (the largest PEM keys are about 12 KiB)."""
_CODE_AFTER = (b"(", b".", b"[")
_CLOSERS = (b")", b",", b"]")
_TYPE_NAME = re.compile(r"^[A-Za-z_]*[A-Z][A-Za-z_]*$")
"""`token: EventLoopToken)`: a type in a signature (mixed-case letters only), not a value."""
_QUOTES = (b'"', b"'")
_STRING_PREFIXES = frozenset({"f", "b", "r", "u", "rb", "br", "fr", "rf"})


class Detector:
    """The rules (less the disabled kinds), the known values and the operator's extras, as one RE2 program."""

    def __init__(
        self,
        rules: Sequence[Rule] = RULES,
        *,
        values: Iterable[str] = (),
        disabled: Iterable[str] = (),
    ) -> None:
        off = frozenset(disabled)
        self.disabled = off
        self.rules = tuple(rule for rule in rules if _kind_family(rule.kind) not in off)
        literal = sorted({v for v in values if v}, key=len, reverse=True)
        self._known = bool(literal) and "server-credential" not in off
        parts = ["(?P<known>" + "|".join(re2.escape(v) for v in literal) + ")"] if self._known else []
        # Group names are made unique per rule (RE2 wants them unique across the whole program).
        renamed_rules = []
        for index, rule in enumerate(self.rules):
            name = f"r{index}"
            pattern, renamed = _rename_groups(rule.pattern, name)
            renamed_rules.append((name, rule, renamed))
            parts.append(f"(?P<{name}>{pattern})")
        options = re2.Options()
        options.log_errors = False
        options.max_mem = 64 << 20
        self.program = re2.compile("|".join(parts), options) if parts else None
        # The compiled program's own matcher: one call per candidate, every group's span at once.
        self._match = self.program._regexp.Match if self.program is not None else None
        index_of = self.program.groupindex if self.program is not None else {}
        self._known_group = index_of.get("known", 0)
        self._groups = [
            (
                index_of[name],
                rule,
                # (group number, how the value ends) for each form of value, and the key's group
                tuple((index_of[new], _value_end(rule, old)) for old, new in renamed.items() if old != "k"),
                index_of.get(renamed.get("k", ""), 0),
                re.compile(rule.extend.encode()) if rule.extend else None,
            )
            for name, rule, renamed in renamed_rules
        ]

    def find(self, text: str) -> list[Finding]:
        """Every secret in `text`, in order and not overlapping, as offsets into its UTF-8 bytes.

        One RE2 search finds the leftmost candidate; a candidate the checks refuse (a key that
        only looks secret, a placeholder value) is passed over from where its value starts, so a
        token inside `"Key": "ghp_..."` is still found, and the scan never goes back.

        Each candidate costs some Python; text packed with candidates (hostile input, not seen in
        real data) would cost a lot of it. Past a budget of candidates, the rest of the text is
        masked piece by piece wherever a candidate starts, without a closer look: hostile input
        can cause more masking, never more time.
        """
        if self._match is None or not text:
            return []
        data = text.encode()
        size = len(data)
        match = self._match
        found: list[Finding] = []
        budget = _BUDGET_BASE + size // _BUDGET_BYTES
        extra: list[Finding] = []  # tokens found inside a finding's own match (a URL's user name)
        pos = 0
        while pos < size:
            spans = match(_UNANCHORED, data, pos, size)
            if spans[0][0] < 0:
                break
            budget -= 1
            if budget < 0:
                found.extend(self._dense(data, spans[0][0]))
                break
            finding, resume = self._classify(spans, data, pos, extra)
            if finding is not None:
                found.append(finding)
            pos = max(resume, spans[0][0] + 1)
        return _disjoint(found + extra if extra else found)

    def _dense(self, data: bytes, pos: int) -> list[Finding]:
        """Mask each piece (whole lines, 4 KiB or more) from `pos` on in which a candidate starts."""
        assert self._match is not None
        found: list[Finding] = []
        size = len(data)
        while pos < size:
            start = self._match(_UNANCHORED, data, pos, size)[0][0]
            if start < 0:
                break
            begin = max(data.rfind(b"\n", pos, start) + 1, pos)
            newline = data.find(b"\n", begin + _DENSE_PIECE, begin + 4 * _DENSE_PIECE)
            end = newline if newline >= 0 else min(size, begin + 4 * _DENSE_PIECE)
            found.append(Finding(begin, end, DENSE))
            pos = end + 1
        return found

    def _shape_kind(self, data: bytes, start: int, end: int, named: str) -> str:
        """A value that is itself a known token (`token=ghp_...`) is reported as what it is."""
        assert self._match is not None
        spans = self._match(_UNANCHORED, data, start, end)
        if spans[0] == (start, end):
            for group, rule, *_ in self._groups:
                if spans[group][0] >= 0 and rule.kind not in _PAIRS and rule.check is None:
                    return _kind_family(rule.kind)
        return named

    def _user_token(self, data: bytes, start: int, end: int, extra: list[Finding]) -> None:
        """A token as the user name of a URL with a password (`https://ghp_...:x-oauth-basic@`)."""
        assert self._match is not None
        spans = self._match(_UNANCHORED, data, start, end)
        if spans[0][0] >= 0:
            finding, _ = self._classify(spans, data[:end], start, [])
            if finding is not None:
                extra.append(finding)

    def _classify(
        self, spans: list[tuple[int, int]], data: bytes, floor: int, extra: list[Finding]
    ) -> tuple[Finding | None, int]:
        """The finding a match stands for (or None), and where the scan goes on."""
        whole_start, whole_end = spans[0]
        if self._known_group and spans[self._known_group][0] >= 0:
            return Finding(whole_start, whole_end, "server-credential"), whole_end
        for group, rule, values, key_group, extend in self._groups:
            if spans[group][0] < 0:
                continue
            start, end = spans[group]
            ends: re.Pattern[bytes] | None = extend
            valued = False
            for value_group, value_end in values:
                if spans[value_group][0] >= 0:
                    start, end = spans[value_group]
                    ends = value_end or extend
                    valued = True
                    break
            if rule.kind == "private-key-tail":
                after = _base64_run_end(data, end)
                return Finding(_base64_run_start(data, start, floor), after, "private-key"), after
            resume = start if valued else whole_end
            # Judge on the first bytes of the value; follow it to its end only once it is taken.
            if ends is not None:
                judged = ends.match(data, end, min(len(data), end + _CLASSIFY_BYTES))
                end = judged.end() if judged is not None else end
            if start == end:
                return None, resume
            value = data[start:end].decode(errors="replace")
            kind: str | None = rule.kind
            if rule.kind in _PAIRS:
                kind = _pair_kind(data, spans[key_group], start, end, value, inline=rule.kind == "secret-pair")
                if kind is not None and end - start >= _SHORTEST_TOKEN:
                    kind = self._shape_kind(data, start, end, kind)
            elif is_marker(value) or (rule.check is not None and not rule.check(value)):
                kind = None
            if kind is None or kind in self.disabled:
                return None, resume
            if ends is not None and end - start >= _CLASSIFY_BYTES:
                full = ends.match(data, end, min(len(data), end + _EXTEND_BYTES))
                end = full.end() if full is not None else end
            if rule.kind == "url-password":
                self._user_token(data, data.find(b"://", whole_start) + 3, data.rfind(b":", whole_start, start), extra)
            return Finding(start, end, kind), max(whole_end, end)
        return None, whole_end

    def mask(self, text: str, *, fit: bool = True) -> tuple[str, Counter[str]]:
        """`text` with every secret replaced by its marker (line breaks kept), and what was masked.

        With `fit`, a marker never takes more bytes than what it replaces (answers have a size cap);
        without, it is always the full typed marker (logs and errors).
        """
        findings = self.find(text)
        if not findings:
            return text, Counter()
        return apply(text, findings, fit=fit), Counter(finding.kind for finding in findings)


def _disjoint(found: list[Finding]) -> list[Finding]:
    """In order, overlaps merged (a key's tail reaching back, a token inside a URL's user name)."""
    if all(a.end <= b.start for a, b in itertools.pairwise(found)):
        return found
    merged: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, -f.end)):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.start, max(last.end, finding.end), last.kind)
        else:
            merged.append(finding)
    return merged


def _value_end(rule: Rule, group: str) -> re.Pattern[bytes] | None:
    if rule.kind in _PAIRS and group in _VALUE_END:
        return re.compile(_VALUE_END[group])
    return None


def _kind_family(kind: str) -> str:
    """The kind a rule reports, as `EGRESS_DISABLE` names it (pairs report their key's kind: never dropped whole)."""
    return "" if kind in _PAIRS else "private-key" if kind == "private-key-tail" else kind


def _pair_kind(data: bytes, key_span: tuple[int, int], start: int, end: int, value: str, *, inline: bool) -> str | None:
    """The kind of a secret-named pair's value, or None when its key or its value says it is no secret."""
    key_start = _key_start(data, key_span[0])
    if data[key_start - 1 : key_start] == b"\\" and data[key_start : key_start + 1] in (b"n", b"r", b"t"):
        key_start += 1  # `\npass = x` in JSON-escaped text: the n belongs to the escape, not to the key
    kind = key_kind(data[key_start : key_span[1]].decode(errors="replace"))
    key = data[key_start : key_span[1]].decode(errors="replace")
    if kind is None or plain_value(value, key):
        return None
    after = data[end : end + 1]
    if after in _CODE_AFTER:  # `token=self.token`, `key=derive(...)`: an expression in source code
        return None
    if inline and data[start - 1 : start] not in _QUOTES:
        if after in _QUOTES and value.lower() in _STRING_PREFIXES:  # f"...", b'...': a string literal in code
            return None
        colon = b"=" not in data[key_span[1] : start]  # `key: value` in running text or in a signature
        if colon and (prose(_rest_of_line(data, start)) or (after in _CLOSERS and _TYPE_NAME.match(value))):
            return None
    return kind


_KEY_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_KEY_BACK = 64


def _key_start(data: bytes, term: int) -> int:
    """Where the key that ends with the word at `term` begins: key characters back, 64 at most."""
    start = term
    while start > 0 and term - start < _KEY_BACK and data[start - 1] in _KEY_CHARS:
        start -= 1
    return start


def _base64_run_start(data: bytes, end_marker: int, floor: int) -> int:
    """Where the base64 lines just before a PEM END marker begin (not before `floor`)."""
    start = data.rfind(b"\n", floor, end_marker) + 1 if end_marker > floor else floor
    start = max(start, floor)
    while start > floor:
        previous = data.rfind(b"\n", floor, start - 1) + 1
        previous = max(previous, floor)
        if not _BASE64_LINE.match(data, previous, start - 1):
            break
        start = previous
    return start


_PEM_BEGIN_LINE = re.compile(rb"[ \t]*" + _PEM_BEGIN.encode() + rb"[ \t]*\r?$")


def _base64_run_end(data: bytes, end_marker: int) -> int:
    """Where base64 lines just after a PEM END marker end, with a BEGIN line right after them.

    A log read newest first (CloudWatch Logs Insights sorts so) holds a key upside down: END, the
    body, then BEGIN. In the right order, the line after END is never bare base64.
    """
    end = end_marker
    while end < len(data) and data[end : end + 1] in (b"\n", b"\r"):
        start = end + 1 if data[end : end + 1] == b"\n" else end + 2
        newline = data.find(b"\n", start)
        line_end = newline if newline >= 0 else len(data)
        if _BASE64_LINE.match(data, start, line_end):
            end = line_end
            continue
        if end > end_marker and _PEM_BEGIN_LINE.match(data, start, line_end):
            end = line_end
        break
    return end


def _rest_of_line(data: bytes, start: int) -> str:
    end = data.find(b"\n", start, start + 200)
    return data[start : end if end >= 0 else start + 200].decode(errors="replace")


def _rename_groups(pattern: str, prefix: str) -> tuple[str, dict[str, str]]:
    renamed: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        new = f"{prefix}_{match.group(1)}"
        renamed[match.group(1)] = new
        return f"(?P<{new}>"

    return re.sub(r"\(\?P<([a-z0-9]+)>", rename, pattern), renamed


def apply(text: str, findings: Sequence[Finding], *, fit: bool = True) -> str:
    """Replace each finding (byte offsets into `text` as UTF-8) by its marker.

    A finding across lines keeps its line breaks, and each of its lines holds a marker (after its
    indentation): a log keeps its line count, and text beside the secret stays where it was. With
    `fit`, a marker never takes more bytes than what it replaces.
    """
    data = text.encode()
    out: list[bytes] = []
    last = 0
    for finding in findings:
        out.append(data[last : finding.start])
        secret = data[finding.start : finding.end]
        if finding.kind == DENSE:  # whole lines of hostile text: one marker, the line breaks kept
            first = secret.find(b"\n")
            room = len(secret) if first < 0 else first
            out.append(marker(DENSE, room if fit else None).encode() + b"\n" * secret.count(b"\n"))
            last = finding.end
            continue
        pieces = []
        for line in secret.split(b"\n"):
            body = line.lstrip()
            indent = line[: len(line) - len(body)]
            pieces.append(indent + marker(finding.kind, len(body) if fit else None).encode() if body else line)
        out.append(b"\n".join(pieces))
        last = finding.end
    out.append(data[last:])
    return b"".join(out).decode(errors="replace")


# --- The process-wide detector: built-in rules, the server's own credentials, the operator's extras. --------
_MIN_KNOWN_LENGTH = 6
"""Shorter exact values would mask ordinary words; such secrets are still caught by their shape."""


class Registry:
    """The known values and extra rules for this process, and the detector built from them (rebuilt on change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._extra: list[Rule] = []
        self._built: dict[frozenset[str], Detector] = {}

    def add_value(self, value: str | None) -> None:
        if not value or len(value) < _MIN_KNOWN_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._built.clear()

    def add_rules(self, rules: Iterable[Rule]) -> None:
        with self._lock:
            for rule in rules:
                if rule not in self._extra:
                    self._extra.append(rule)
            self._built.clear()

    def extra_kinds(self) -> set[str]:
        return {rule.kind for rule in self._extra}

    def detector(self, disabled: frozenset[str] = frozenset()) -> Detector:
        found = self._built.get(disabled)
        if found is not None:
            return found
        with self._lock:
            found = self._built.get(disabled)
            if found is None:
                found = Detector((*self._extra, *RULES), values=self._values, disabled=disabled)
                self._built[disabled] = found
            return found


REGISTRY = Registry()

KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *(_kind_family(rule.kind) for rule in RULES if _kind_family(rule.kind)),
            *_SECRET_WORDS.values(),
            *_WHOLE_WORDS.values(),
            *_KEY_QUALIFIERS.values(),
            "aws-secret-key",
            "azure-key",
            "server-credential",
        ]
    )
)
"""Every kind the built-in rules report: what `EGRESS_DISABLE` accepts (besides the operator's own kinds)."""


def load_patterns(path: Path) -> tuple[list[Rule], list[str]]:
    """The operator's file of extra patterns and exact values (TOML):

        values = ["an-exact-value", ...]
        [[pattern]]
        kind = "acme-token"
        regex = 'acme_[a-z0-9]{32}'     # RE2 syntax; a group named v, if any, is the part masked

    Raises ValueError naming what is wrong (never echoing a value).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    values = data.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{path}: `values` must be a list of strings")
    rules: list[Rule] = []
    for index, entry in enumerate(data.get("pattern", [])):
        kind, regex = (entry.get("kind"), entry.get("regex")) if isinstance(entry, dict) else (None, None)
        if not isinstance(kind, str) or not re.fullmatch(r"[a-z0-9][a-z0-9\-]{0,40}", kind):
            raise ValueError(f"{path}: pattern {index + 1} needs a `kind` of lowercase letters, digits and dashes")
        if not isinstance(regex, str) or not regex:
            raise ValueError(f"{path}: pattern {index + 1} ({kind}) needs a `regex`")
        try:
            options = re2.Options()
            options.log_errors = False
            re2.compile(regex, options)
        except re2.error:
            raise ValueError(f"{path}: pattern {index + 1} ({kind}) is not a valid RE2 regex") from None
        if re2.compile(regex, options).search("") is not None:
            raise ValueError(f"{path}: pattern {index + 1} ({kind}) matches the empty string")
        rules.append(Rule(kind, regex))
    return rules, values
