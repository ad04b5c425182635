"""The AWS accounts a request names, wherever it names them.

`WARDEN_AWS_ACCOUNTS` limits the accounts this server reads. Checking the credential's own account (STS
caller identity, in `client.py`) is not enough: a credential can reach resources in other accounts that
trust it, by naming them. A role to simulate, a function, a key or a log group is named by its ARN; an ECR
registry, a Glue catalog or a snapshot owner by a bare account id. So the policy searches every request
before it is sent, and an account found here that the allowlist does not admit refuses the request.

What counts as naming an account, in any string anywhere in the request (values and keys, through nested
mappings and lists):
- an ARN, in any partition (`arn:aws:`, `arn:aws-cn:`, `arn:aws-us-gov:`, ...), in any letter case, anywhere
  in the string (embedded in text, with whitespace around its colons), whose account field is 12 digits
  once whitespace and invisible characters are removed. An empty account field (an S3 bucket) or one that is
  not an account id (`arn:aws:iam::aws:policy/...`) names no account;
- a 12-digit number standing on its own (`registryId`, `CatalogId`, `OwnerIds`, a policy condition on
  `aws:SourceAccount`, a Logs Insights `SOURCE ... accountIdentifiers`).

Strings are searched as given, after Unicode compatibility normalization (full-width digits and colons
become ASCII), after percent-decoding, and, when a string holds a JSON document (a policy, a template),
through the parsed document, so escapes such as `\\u0039` hide nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from warden_core import InvalidArgument

# A lookahead, so every `arn` is tried even inside a longer match (`arn:x arn:aws:iam::...` hides nothing).
# Fields are bounded, so a long string without colons costs linear time.
_ARN = re.compile(r"(?=arn\s{0,8}:[^:]{0,32}:[^:]{0,64}:[^:]{0,64}:([^:]{0,64}):)", re.IGNORECASE)
_STANDALONE_ID = re.compile(r"(?<![0-9+])[0-9]{12}(?![0-9])")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
MAX_DEPTH = 64
"""Deeper nesting is refused rather than searched: a real AWS request is never this deep."""


def named_accounts(value: Any, where: str = "parameters") -> Iterator[tuple[str, str]]:
    """(account id, where it was found) for every account `value` names, in the order found."""
    yield from _walk(value, where, 0)


def _walk(value: Any, where: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH:
        raise InvalidArgument(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        yield from _in_text(value, where, depth)
    elif isinstance(value, bytes | bytearray):
        yield from _in_text(bytes(value).decode("latin-1"), where, depth)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _in_text(str(key), f"{where} (a key)", depth)
            yield from _walk(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]", depth + 1)


def _in_text(text: str, where: str, depth: int) -> Iterator[tuple[str, str]]:
    found: dict[str, None] = {}  # ordered, and each account once however many ways the text names it
    documents = []
    for variant in _variants(text):
        for match in _ARN.finditer(variant):
            account = _visible(match.group(1))
            if _ACCOUNT_ID.fullmatch(account):
                found[account] = None
        for match in _STANDALONE_ID.finditer(variant):
            found[match.group()] = None
        if variant.strip()[:1] in ("{", "["):
            documents.append(variant)
    for account in found:
        yield account, where
    for document in documents:
        try:
            parsed = json.loads(document)
        except (ValueError, RecursionError):
            continue  # not JSON: searched as text above
        yield from _walk(parsed, f"{where} (JSON)", depth + 1)


def _variants(text: str) -> list[str]:
    """The text as AWS might read it: normalized, and percent-decoded until nothing changes."""
    variants = [_visible(unicodedata.normalize("NFKC", text), keep_spaces=True)]
    while "%" in variants[-1]:
        decoded = unquote(variants[-1])
        if decoded == variants[-1]:
            break
        variants.append(decoded)
    return variants


def _visible(text: str, *, keep_spaces: bool = False) -> str:
    """The text without invisible format characters (zero-width, bidi) and, unless kept, whitespace."""
    return "".join(char for char in text if unicodedata.category(char) != "Cf" and (keep_spaces or not char.isspace()))
