"""Helm 3 release records: read from their Secrets, decoded here, and masked before anything leaves.

Helm 3 keeps each revision of a release in a Secret `sh.helm.release.v1.<release>.v<revision>` of type
`helm.sh/release.v1`, labelled `owner=helm,name=<release>,status=<status>,version=<revision>`. Its
`release` key holds base64(gzip(JSON of the release)); the API's Secret encoding base64-encodes those
bytes once more. The record carries the chart, the user-supplied values (`config`), the rendered
manifest, the notes and the hooks.

Decompression is capped: a crafted record that inflates past the cap is refused unread. Only what a tool
shows is kept; values, manifest and notes are masked with the server's `Masker`, and any value masked
in the release's values is also masked wherever it turns up verbatim in its manifest and notes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from warden_core import egress
from warden_core.detector import is_marker
from warden_kubernetes.masking import MASK, SECRET_KIND, Masker

RELEASE_TYPE = "helm.sh/release.v1"
OWNER = "owner=helm"
_GZIP = b"\x1f\x8b\x08"
_SOURCE = re.compile(r"^# Source: .*$", re.MULTILINE)
_KNOWN_MIN = 6  # shorter masked values are not hunted for in other text (too many false hits)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(yaml.SafeDumper):
    """YAML as Helm users read it: multi-line strings (config files in ConfigMaps) as `|` blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def dump(value: Any) -> str:
    return str(yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True))


class Unreadable(Exception):
    """A release Secret whose record cannot (or may not) be read; the message says why."""


def secret_name(release: str, revision: int) -> str:
    return f"sh.helm.release.v1.{release}.v{revision}"


def selector(release: str | None = None, revision: int | None = None) -> str:
    """The label selector of every Secret request the Helm tool makes: always `owner=helm` first."""
    parts = [OWNER]
    if release is not None:
        parts.append(f"name={release}")
    if revision is not None:
        parts.append(f"version={revision}")
    return ",".join(parts)


def is_release(secret: Mapping[str, Any], release: str, revision: int) -> bool:
    """Whether `secret` is exactly the record of `release` at `revision`, as Helm writes it."""
    metadata = secret.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return (
        secret.get("type") == RELEASE_TYPE
        and metadata.get("name") == secret_name(release, revision)
        and labels.get("owner") == "helm"
        and labels.get("name") == release
        and labels.get("version") == str(revision)
    )


def decode(secret: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """The release record a Secret holds, inflating at most `limit` bytes."""
    encoded = (secret.get("data") or {}).get("release")
    if not isinstance(encoded, str):
        raise Unreadable("the Secret holds no release record")
    try:
        payload = base64.b64decode(base64.b64decode(encoded, validate=True), validate=True)
    except (binascii.Error, ValueError):
        raise Unreadable("the release record is not base64") from None
    if payload[:3] == _GZIP:
        try:
            payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, limit + 1)
        except zlib.error:
            raise Unreadable("the release record is not valid gzip") from None
    if len(payload) > limit:
        raise Unreadable(f"the release record inflates to more than {limit} bytes, so it was not read")
    try:
        record = json.loads(payload)
    except (ValueError, RecursionError):
        raise Unreadable("the release record is not JSON") from None
    if not isinstance(record, dict):
        raise Unreadable("the release record is not a JSON object")
    return record


@dataclass
class Revision:
    """What the tools show of one release revision (nothing else of the record is kept)."""

    name: str
    namespace: str
    revision: int
    status: str
    updated: str | None = None
    chart: str | None = None
    app_version: str | None = None
    description: str | None = None
    notes: str | None = None
    values: Any = None
    manifest: str | None = None
    error: str | None = None
    secrets: set[str] = field(default_factory=set)


def revision(secret: Mapping[str, Any], limit: int, *, content: bool = False) -> Revision:
    """The revision a release Secret holds; `content` keeps its values, manifest and notes (unmasked)."""
    metadata = secret.get("metadata") or {}
    labels = metadata.get("labels") or {}
    found = Revision(
        name=str(labels.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        revision=int(labels.get("version", 0)),
        status=str(labels.get("status", "unknown")),
        updated=str(metadata.get("creationTimestamp") or "") or None,
    )
    try:
        record = decode(secret, limit)
    except Unreadable as exc:
        found.error = str(exc)
        return found
    info = _dict(record.get("info"))
    chart = _dict(_dict(record.get("chart")).get("metadata"))
    found.status = str(info.get("status") or found.status)
    found.updated = str(info.get("last_deployed") or found.updated or "") or None
    found.chart = f"{chart.get('name')}-{chart.get('version')}" if chart.get("name") else None
    found.app_version = str(chart["appVersion"]) if chart.get("appVersion") else None
    found.description = str(info["description"]) if info.get("description") else None
    if content:
        found.notes = str(info["notes"]) if info.get("notes") else None
        found.values = record.get("config") or {}
        found.manifest = str(record.get("manifest") or "")
    return found


# --- Masking. --------------------------------------------------------------------------------------------
def mask_values(masker: Masker, values: Any) -> tuple[Any, set[str]]:
    """Masked values, and the values that were masked whole (to hunt for in the manifest and notes)."""
    masked = _numbers_by_key(masker, values, masker.tree(values))
    return masked, {text for text in _masked_leaves(values, masked) if len(text) >= _KNOWN_MIN}


def mask_text(masker: Masker, text: str, secrets: set[str]) -> str:
    return masker.text(_replace_known(text, secrets))


def mask_manifest(masker: Masker, manifest: str, secrets: set[str], budget: int) -> tuple[str, bool]:
    """The rendered manifest with every object masked (Secrets keep only their keys), as YAML; stops
    before `budget` characters (True when it did). A document that is not plain YAML is withheld."""
    out: list[str] = []
    used = 0
    for source, document in _documents(manifest):
        text = f"---\n{source}\n" if source else "---\n"
        text += _masked_document(masker, document, secrets)
        if used + len(text) > budget:
            return "".join(out), True
        out.append(text)
        used += len(text)
    return "".join(out), False


def resources(manifest: str, most: int = 500) -> list[str]:
    """`Kind/name` of each object in a rendered manifest (at most `most`)."""
    found = []
    for _, document in _documents(manifest):
        try:
            loaded = yaml.load(document, Loader=_Loader)  # noqa: S506  (a safe loader)
        except yaml.YAMLError:
            continue
        if isinstance(loaded, dict) and loaded.get("kind"):
            found.append(f"{loaded['kind']}/{_dict(loaded.get('metadata')).get('name', '?')}")
        if len(found) == most:
            break
    return found


def _documents(manifest: str) -> Iterator[tuple[str | None, str]]:
    """(the `# Source:` line, the YAML) of each document Helm rendered."""
    for chunk in re.split(r"^---[ \t]*$", manifest, flags=re.MULTILINE):
        source = _SOURCE.search(chunk)
        body = _SOURCE.sub("", chunk).strip("\n")
        if body.strip():
            yield (source.group(0) if source else None), body + "\n"


def _masked_document(masker: Masker, document: str, secrets: set[str]) -> str:
    try:
        # Anchors and aliases could make masking walk one node a billion times; Helm output has none.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(document, Loader=_Loader)):
            return "# [document withheld: it uses YAML aliases]\n"
        loaded = yaml.load(document, Loader=_Loader)  # noqa: S506  (a safe loader: CSafeLoader or SafeLoader)
    except yaml.YAMLError:
        return "# [document withheld: not valid YAML]\n"
    if isinstance(loaded, dict):
        masked: Any = masker.obj(loaded)
    else:
        masked = masker.tree(loaded)
    return dump(_replace_known(masked, secrets))


def _replace_known(value: Any, secrets: set[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            found = value.count(secret)
            if found:
                value = value.replace(secret, MASK)
                egress.note(SECRET_KIND, found)
        return value
    if isinstance(value, dict):
        return {key: _replace_known(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_known(item, secrets) for item in value]
    return value


def _numbers_by_key(masker: Masker, original: Any, masked: Any) -> Any:
    """Values often hold a numeric password (`password: 12345678`, an env entry's `value: 1234`): the masker
    judges strings only, so it is shown each number's level as text, and masks the numbers it would mask."""
    if isinstance(original, dict) and isinstance(masked, dict):
        numbers = {key for key, value in original.items() if _is_number(value)}
        if numbers:
            scalars = {key: str(value) if key in numbers else value for key, value in original.items()}
            probe = masker.tree({key: value for key, value in scalars.items() if not isinstance(value, dict | list)})
            masked = {
                key: MASK if key in numbers and _masked_whole(probe.get(key)) else value
                for key, value in masked.items()
            }
        return {key: _numbers_by_key(masker, original.get(key), value) for key, value in masked.items()}
    if isinstance(original, list) and isinstance(masked, list):
        return [_numbers_by_key(masker, before, after) for before, after in zip(original, masked, strict=False)]
    return masked


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _masked_leaves(original: Any, masked: Any) -> Iterator[str]:
    if isinstance(original, dict) and isinstance(masked, dict):
        for key, value in original.items():
            yield from _masked_leaves(value, masked.get(key))
    elif isinstance(original, list) and isinstance(masked, list):
        for before, after in zip(original, masked, strict=False):
            yield from _masked_leaves(before, after)
    elif _masked_whole(masked) and masked != original and (isinstance(original, str) or _is_number(original)):
        yield str(original)


def _masked_whole(value: Any) -> bool:
    """A value the masker replaced whole (by a marker of any kind)."""
    return isinstance(value, str) and is_marker(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
