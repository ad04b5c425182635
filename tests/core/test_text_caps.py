"""Untrusted text is cleaned of invisible characters; results are capped and say so."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden_core.caps import Budget, json_size, truncate_text
from warden_core.text import defang, defang_links, strip_invisible


def test_invisible_and_bidi_characters_are_removed() -> None:
    hidden = "Fix\u200b the\u202e bug\u2066\u2069\U000e0049\U000e0047\ufeff\u00ad"
    assert strip_invisible(hidden) == "Fix the bug"


@pytest.mark.parametrize(
    "hidden",
    ["\u034f", "\u2800", "\u115f", "\u3164", "\u180e", "\u17b4"],
    ids=["grapheme-joiner", "braille-blank", "hangul-filler", "hangul-letter-filler", "mongolian-separator", "khmer"],
)
def test_blank_characters_that_are_not_format_characters_are_removed(hidden: str) -> None:
    assert strip_invisible(f"ig{hidden}nore{hidden}") == "ignore"


def test_line_and_paragraph_separators_become_line_breaks() -> None:
    assert strip_invisible("one\u2028two\u2029three") == "one\ntwo\nthree"


@pytest.mark.parametrize(
    ("url", "inert"),
    [
        ("https://evil.example/x?d=1", "hxxps://evil[.]example/x?d=1"),
        ("http://a.b", "hxxp://a[.]b"),
        ("ftp://files.example/dump.tgz", "fxp://files[.]example/dump.tgz"),
        ("FTPS://files.example/", "fxps://files[.]example/"),
        ("sftp://host.example/x", "sfxp://host[.]example/x"),
        ("wss://ws.example/feed", "wss://ws[.]example/feed"),
        ("mailto:a@b.example", "mailto:a@b.example"),
    ],
)
def test_links_are_made_inert(url: str, inert: str) -> None:
    assert defang(url) == inert
    assert defang_links(f"see {url} now") == f"see {inert} now"


def test_newlines_tabs_and_real_text_survive() -> None:
    text = "Line 1\n\tcafé 日本語 🙂 — ok"
    assert strip_invisible(text) == text


@given(st.text())
def test_cleaning_is_idempotent_and_leaves_no_format_characters(text: str) -> None:
    import unicodedata

    once = strip_invisible(text)
    assert strip_invisible(once) == once
    assert not any(unicodedata.category(c) in {"Cf", "Cc"} and c not in "\n\t" for c in once)


def test_truncate_text_respects_utf8_boundaries() -> None:
    text, cut = truncate_text("ééé", 3)
    assert (text, cut) == ("é", True)
    assert truncate_text("abc", 10) == ("abc", False)


def test_budget_stops_and_flags() -> None:
    budget = Budget(100)
    kept = [item for item in ({"n": i, "pad": "x" * 20} for i in range(100)) if budget.admit(item)]
    assert 0 < len(kept) < 100
    assert budget.truncated
    assert sum(json_size(k) + 1 for k in kept) <= 100
    # once truncated, nothing more is admitted even if it would fit
    assert not budget.admit(1)


def test_reserve_spends_on_the_envelope_first() -> None:
    budget = Budget(100)
    assert budget.reserve(60)
    assert not budget.admit("x" * 50)  # 40 bytes left
    assert budget.truncated
    assert not Budget(10).reserve(11)
