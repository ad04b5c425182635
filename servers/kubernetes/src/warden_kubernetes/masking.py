"""What only a Kubernetes server knows is secret, masked before anything is summarized or rendered.

The core's egress filter masks credentials in every answer by their shape and by the names of the
keys they sit under. This module adds what needs Kubernetes' own semantics, applied to each object
before it becomes a summary, JSON or YAML:

- a Secret keeps its keys, type and metadata; every value is masked (an empty value stays empty,
  so "is the key set?" can still be answered);
- a ConfigMap value under a secret-named key (`DB_PASS`, `JWT_SIGNING_KEY`, `api.key`) or a
  credential file name (`id_rsa`, `.htpasswd`, `tls.key`) is masked whole, exactly as an env var
  with that name is;
- an env var (`{"name": "DB_PASSWORD", "value": ...}`) with a secret-named name, and the argument
  after a `--password` style flag, are masked: once rendered as YAML text, the name and the value
  are on different lines and no text rule could pair them;
- `last-applied-configuration` is parsed and masked like the object it holds (it often carries a
  Secret's `stringData` in plain text), and `managedFields` is dropped.

Names are judged by the core's `key_kind`, so "secret-named" means the same here as everywhere.
Pod logs are masked as a stream by the core's `LineMasker` (see `client.read_log`), so a private
key spanning lines is masked before grep or tail select lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from warden_core import egress, redaction
from warden_core.detector import key_kind, marker
from warden_core.egress import Egress, LineMasker
from warden_core.text import strip_invisible

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SECRET_KIND = "kubernetes-secret"  # noqa: S105  (a marker kind, not a password)
MASK = marker(SECRET_KIND)
"""What every value of a Secret becomes."""

# A ConfigMap key that is a credential file by its name, whatever its words say.
_CREDENTIAL_FILE = re.compile(
    r"(?i)(?:^|[/._-])(?:htpasswd|netrc|pgpass|id_rsa|id_ecdsa|id_ed25519|id_dsa|kubeconfig|keystore|credentials)"
    r"(?:$|[._-])|\.(?:key|pem|p12|pfx|jks)$"
)
# A command-line flag whose next argument is a credential: `--password`, `-token`, `--api-key`.
_FLAG = re.compile(r"^--?([A-Za-z][\w.-]*)$")


def secret_name(name: str) -> str | None:
    """The kind of secret a ConfigMap key or env var name stands for, or None."""
    kind = key_kind(name)
    if kind is None and _CREDENTIAL_FILE.search(name):
        return "credential-file"
    return kind


def _masked(kind: str) -> str:
    egress.note(kind)
    return marker(kind)


class Masker:
    """Masks Kubernetes objects (copies; the input is not changed) and text. Thread-safe."""

    def __init__(self, egress_filter: Egress | None = None) -> None:
        self.egress = egress_filter or Egress()

    def register(self, value: str | None) -> None:
        """Mask this exact value everywhere from now on (the server's own credentials)."""
        redaction.register_secret(value)

    # --- Text. --------------------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """`value` with invisible/bidi characters removed and credentials masked."""
        return self.egress.text(strip_invisible(value))

    def lines(self) -> LineMasker:
        """A masker for a log read line by line (blocks spanning lines, such as private keys, included)."""
        return self.egress.lines()

    # --- Objects. -----------------------------------------------------------------------------------
    def obj(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A masked copy of one Kubernetes object: Kubernetes semantics first, then the core's egress filter.

        The egress filter runs here, before the object is summarized or rendered, and not only on the
        answer: rendered as YAML, a long `KEY: value` is folded onto two lines, where no text rule pairs them.
        """
        masked: dict[str, Any] = self.egress.value(self._object(obj))
        return masked

    def _object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind = obj.get("kind")
        secret = kind == "Secret"  # in any API group: an unknown "Secret" kind is treated as one
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key == "metadata" and isinstance(value, Mapping):
                out[key] = self._metadata(value, secret)
            elif secret and key in {"data", "stringData"} and isinstance(value, Mapping):
                out[key] = {k: _masked(SECRET_KIND) if v else "" for k, v in value.items()}
            elif kind == "ConfigMap" and key == "data" and isinstance(value, Mapping):
                out[key] = {k: self._named_value(str(k), v) for k, v in value.items()}
            elif kind == "ConfigMap" and key == "binaryData" and isinstance(value, Mapping):
                out[key] = {k: f"[binary, {len(str(v)) * 3 // 4} bytes]" for k, v in value.items()}
            else:
                out[key] = self._walk(value, key)
        return out

    def tree(self, value: Any) -> Any:
        """A masked copy of free-form data such as Helm values, masked as the fields of an object are
        (Kubernetes semantics, then the core's egress filter, as `obj` does)."""
        return self.egress.value(self._walk(value))

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
        if key != LAST_APPLIED or not isinstance(value, str):
            return self._walk(value, key)
        if secret:
            return _masked(SECRET_KIND)
        try:
            applied = json.loads(value)
        except ValueError:
            applied = None
        if not isinstance(applied, dict):
            return _masked("last-applied-configuration")
        return json.dumps(self._object(applied), separators=(",", ":"), sort_keys=True)

    def _named_value(self, name: str, value: Any) -> Any:
        """A value whose name (a ConfigMap key, an env var) may say it is a secret."""
        if not isinstance(value, str):
            return self._walk(value, name)
        kind = secret_name(name)
        return _masked(kind) if value and kind is not None else strip_invisible(value)

    def _walk(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            return strip_invisible(value)
        if isinstance(value, Mapping):
            if key == "env" or _is_env_var(value):
                return self._env_var(value)
            return {k: self._walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return self._list(value, key)
        return value

    def _list(self, items: list[Any], key: str | None) -> list[Any]:
        out: list[Any] = []
        flagged: str | None = None
        for item in items:
            if isinstance(item, str):
                out.append(_masked(flagged) if flagged and item else strip_invisible(item))
                flag = _FLAG.match(item)
                flagged = key_kind(flag.group(1)) if flag else None
            else:
                flagged = None
                out.append(self._walk(item, key))
        return out

    def _env_var(self, var: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: self._walk(v, str(k)) for k, v in var.items() if k != "value"}
        if "value" in var:
            out["value"] = self._named_value(str(var.get("name", "")), var["value"])
        return out


def _is_env_var(value: Mapping[str, Any]) -> bool:
    """`{"name": ..., "value": ...}` with nothing else but `valueFrom`: an env var entry."""
    return "name" in value and "value" in value and set(value) <= {"name", "value", "valueFrom"}
