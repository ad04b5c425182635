"""Secret values never leave the server.

Every object, event, log line and summary passes through one `Masker` before it is returned:

- a Secret keeps its keys, type and metadata; every value becomes `[MASKED]` (an empty value stays
  empty, so "is the key set?" can still be answered);
- ConfigMap values under credential-like keys (`DB_PASSWORD`, `api.key`, `tls.key`, ...) are masked
  whole; other values keep their text with credential assignments (`password=...`) masked;
- env vars with credential-like names, fields named like credentials (`clientSecret`, `token`),
  the value after a `--password` style flag, and anything shaped like a credential (tokens, JWTs,
  private keys, passwords in URLs) are masked wherever they appear, annotations included;
- `last-applied-configuration` is parsed and masked like the object it holds (it often carries a
  Secret's `stringData` in plain text), and `managedFields` is dropped.

The server's own credentials (token, password, client key) are registered here when the client
loads them, so they are masked even if they turn up in cluster data.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from warden_core import redaction
from warden_core.text import strip_invisible

MASK = "[MASKED]"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Cheap first pass: a string that contains none of these needs no regex work (most do not).
_SUSPECT = re.compile(
    r"pass|pwd|secret|token|key|credential|bearer|basic|eyj|gh[pousr]_|github_pat_|xox|xapp-|akia|asia|aroa|aida"
    r"|://|private|auth|dsn"
)
_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[-_.]?key|apikey|access[-_.]?key|secret[-_.]?key"
    r"|private[-_.]?key|client[-_.]?secret|credentials?"
)
# A field whose name says its (string) value is a credential: clientSecret, db_password, apiKey.
_FIELD = re.compile(rf"(?i)(?:{_WORDS}|dsn)$")
# An env var name that says so: DB_PASSWORD, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, SENTRY_DSN, BASIC_AUTH.
_ENV = re.compile(
    r"(?i)pass|pwd|secret|token|credential|auth|dsn|salt|private|signing|encrypt|(?:^|_)(?:api_?)?key(?:_|$)|access_?key"
)
# A ConfigMap key (often a file name) whose whole value is a credential.
_CM_KEY = re.compile(
    rf"(?i)(?:{_WORDS}|auth|htpasswd|netrc|pgpass|id_rsa|id_ecdsa|id_ed25519|kubeconfig|keystore"
    r"|\.key$|\.p12$|\.pfx$|\.jks$)"
)
# `password=x`, `DB_PASSWORD: x`, `"token": "x"`, `X-Api-Key: x`, `?token=x`.
# `password=x`, `DB_PASSWORD: x`, `"token": "x"`, `X-Api-Key: x`, `?token=x`. Keyword-anchored, so linear.
_ASSIGN = re.compile(
    rf"(?i)((?:{_WORDS})[\"']?[ \t]{{0,8}}[:=]\s{{0,8}}[\"']?)(?!\[MASKED\]|\[REDACTED\])([^\s\"',;&}}<>]+)"
)
# Credential shapes, as in the core's redaction filter but with bounded quantifiers (its URL-password pattern
# is quadratic on long dotted runs) and a private key cut short masked to the end of the text.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic|token)(\s{1,8})[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1\2{MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK),
    (re.compile(r"\bxox[abposrce]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\b([a-z][a-z0-9+.-]{0,31}://[^:/@\s]{0,256}):[^@\s/]{1,256}@"), rf"\1:{MASK}@"),
    (
        re.compile(
            r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]{0,40}PRIVATE KEY-----|[\s\S]*\Z)"
        ),
        MASK,
    ),
)
# Text up to this size also goes through the core's filter (belt and braces); longer text would make it slow.
CORE_REDACT_LIMIT = 4096
# A command-line flag whose next argument is a credential: `--password`, `-token`, `--api-key`.
_FLAG = re.compile(rf"(?i)^--?[\w.-]*(?:{_WORDS})$")


class Masker:
    """Masks credentials in objects and text. Thread-safe; cheap on text that looks harmless."""

    def __init__(self) -> None:
        self._known: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, value: str | None) -> None:
        """Mask this exact value everywhere from now on (the server's own credentials)."""
        if not value or len(value) < 6:
            return
        redaction.register_secret(value)
        with self._lock:
            if value not in self._known:
                self._known = tuple(sorted({*self._known, value}, key=len, reverse=True))

    # --- Text. --------------------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """`value` with invisible/bidi characters removed and credentials masked."""
        value = strip_invisible(value)
        known = self._known
        if known and any(secret in value for secret in known):
            for secret in known:
                value = value.replace(secret, MASK)
        if not _SUSPECT.search(value.lower()):
            return value
        value = _ASSIGN.sub(lambda m: m.group(1) + MASK, value)
        for pattern, replacement in _SHAPES:
            value = pattern.sub(replacement, value)
        if len(value) <= CORE_REDACT_LIMIT:
            value = redaction.redact(value).replace(redaction.MASK, MASK)
        return value

    # --- Objects. -----------------------------------------------------------------------------------
    def obj(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A masked copy of one Kubernetes object (the input is not changed)."""
        kind = obj.get("kind")
        secret = kind == "Secret"  # in any API group: an unknown "Secret" kind is treated as one
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key == "metadata" and isinstance(value, Mapping):
                out[key] = self._metadata(value, secret)
            elif secret and key in {"data", "stringData"} and isinstance(value, Mapping):
                out[key] = {k: MASK if v else "" for k, v in value.items()}
            elif kind == "ConfigMap" and key == "data" and isinstance(value, Mapping):
                out[key] = {k: self._config_value(str(k), v) for k, v in value.items()}
            elif kind == "ConfigMap" and key == "binaryData" and isinstance(value, Mapping):
                out[key] = {k: f"[binary, {len(str(v)) * 3 // 4} bytes]" for k, v in value.items()}
            else:
                out[key] = self._walk(value, key)
        return out

    def tree(self, value: Any) -> Any:
        """A masked copy of free-form data such as Helm values, masked as the fields of an object are."""
        return self._walk(value)

    def _metadata(self, meta: Mapping[str, Any], secret: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in meta.items():
            if key == "managedFields":
                continue
            if key == "annotations" and isinstance(value, Mapping):
                out[key] = {str(k): self._annotation(str(k), v, secret) for k, v in value.items()}
            else:
                out[key] = self._walk(value, key)
        return out

    def _annotation(self, key: str, value: Any, secret: bool) -> Any:
        if not isinstance(value, str):
            return self._walk(value, key)
        if key == LAST_APPLIED:
            if secret:
                return MASK
            try:
                applied = json.loads(value)
            except ValueError:
                return MASK
            if not isinstance(applied, dict):
                return MASK
            return json.dumps(self.obj(applied), separators=(",", ":"), sort_keys=True)
        if value and _FIELD.search(key.rsplit("/", 1)[-1]):
            return MASK
        return self.text(value)

    def _config_value(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return self._walk(value, key)
        if value and _CM_KEY.search(key):
            return MASK
        return self.text(value)

    def _walk(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            if key == "env" or _is_env_var(value):
                return self._env_var(value)
            out: dict[str, Any] = {}
            for k, v in value.items():
                if isinstance(v, str) and v and _FIELD.search(str(k)):
                    out[k] = MASK
                else:
                    out[k] = self._walk(v, str(k))
            return out
        if isinstance(value, list):
            return self._list(value, key)
        return value

    def _list(self, items: list[Any], key: str | None) -> list[Any]:
        out: list[Any] = []
        mask_next = False
        for item in items:
            if isinstance(item, str):
                out.append(MASK if mask_next and item else self.text(item))
                mask_next = bool(_FLAG.match(item))
            else:
                mask_next = False
                out.append(self._walk(item, key))
        return out

    def _env_var(self, var: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: self._walk(v, str(k)) for k, v in var.items() if k != "value"}
        if "value" in var:
            value = var["value"]
            name = str(var.get("name", ""))
            if isinstance(value, str) and value and _ENV.search(name):
                out["value"] = MASK
            else:
                out["value"] = self._walk(value, "value")
        return out


def _is_env_var(value: Mapping[str, Any]) -> bool:
    """`{"name": ..., "value": ...}` with nothing else but `valueFrom`: an env var entry."""
    return "name" in value and "value" in value and set(value) <= {"name", "value", "valueFrom"}
