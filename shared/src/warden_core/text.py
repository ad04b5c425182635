"""Untrusted free text from a backend (issue bodies, messages, annotations) made safe to show a model.

Invisible and bidirectional-control characters let an attacker hide instructions from the human
reading along (ASCII smuggling with Unicode tags, Trojan Source reordering). They carry no meaning
a reader needs, so they are removed. Line breaks and tabs stay.
"""

from __future__ import annotations

import re
import unicodedata

_KEEP = frozenset("\n\t")

# Fast path: most text is plain and needs no per-character scan.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000e0000-\U000e0fff]"
)


def _is_hidden(char: str) -> bool:
    if char in _KEEP:
        return False
    category = unicodedata.category(char)
    # Cf: format characters (zero-width, bidi controls, tags); Cc: control characters;
    # Mn variation selectors and fillers render as nothing.
    return category in {"Cf", "Cc", "Co", "Cs"} or bool(_SUSPECT.match(char))


def strip_invisible(text: str) -> str:
    """Remove invisible, bidi-control and control characters (keeping newlines and tabs)."""
    if not _SUSPECT.search(text) and text.isascii():
        return text
    return "".join(char for char in text if not _is_hidden(char))
