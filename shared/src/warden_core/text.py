"""Untrusted free text from a backend (issue bodies, messages, annotations) made safe to show a model.

Invisible and bidirectional-control characters let an attacker hide instructions from the human
reading along (ASCII smuggling with Unicode tags, Trojan Source reordering). They carry no meaning
a reader needs, so they are removed. Line breaks and tabs stay; the Unicode line and paragraph
separators (U+2028, U+2029), which many viewers draw as nothing, become plain line breaks.

Links a reader could follow (or a client could preview, sending data along) are made inert by
`defang`: `https://a.b/c` becomes `hxxps://a[.]b/c`, readable but not a link.
"""

from __future__ import annotations

import re
import unicodedata

_KEEP = frozenset("\n\t")
_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})

# Drawn as nothing, yet neither format nor control characters: the combining grapheme joiner,
# the Braille blank, Hangul and Khmer fillers, the Mongolian vowel separator.
_BLANKS = "\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0"

# Fast path: most text is plain and needs no per-character scan.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000e0000-\U000e0fff]"
)


def _is_hidden(char: str) -> bool:
    if char in _KEEP:
        return False
    category = unicodedata.category(char)
    # Cf: format characters (zero-width, bidi controls, tags); Cc: control characters;
    # Mn variation selectors and fillers render as nothing.
    return category in {"Cf", "Cc", "Co", "Cs"} or char in _BLANKS or bool(_SUSPECT.match(char))


def strip_invisible(text: str) -> str:
    """Remove invisible, bidi-control and control characters (keeping newlines and tabs)."""
    if not _SUSPECT.search(text) and text.isascii():
        return text
    return "".join(char for char in text.translate(_LINE_BREAKS) if not _is_hidden(char))


INERT_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "sftp", "ws", "wss"})
"""Schemes a client may fetch or preview: links with them are shown defanged."""

URL = re.compile(r"(?i)\b(?:https?|ftps?|sftp|wss?)://[^\s<>\"'`]*")
"""A bare link in text, up to the first space, angle bracket or quote."""

_URL_PARTS = re.compile(r"(?is)^([a-z][a-z0-9+.\-]*)://([^/?#]*)(.*)$")


def defang(url: str) -> str:
    """`https://a.b/c` -> `hxxps://a[.]b/c`, `ftp://a.b` -> `fxp://a[.]b`: readable, never fetched or previewed."""
    match = _URL_PARTS.match(url)
    if match is None or match.group(1).lower() not in INERT_SCHEMES:
        return url
    scheme, host, rest = match.groups()
    return f"{scheme.lower().replace('t', 'x')}://{host.replace('.', '[.]')}{rest}"


def defang_links(text: str) -> str:
    """Every bare link in `text` defanged."""
    return URL.sub(lambda m: defang(m.group(0)), text)
