"""Untrusted Slack text becomes inert plain text; the agent's text cannot become Slack markup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden_core.errors import InvalidArgument
from warden_slack.render import (
    defang,
    escape_outgoing,
    mentioned_users,
    parse_permalink,
    parse_when,
    plain,
    render_text,
    ts_to_iso,
)

USERS = {"U01ALICE01": "alice"}
CHANNELS = {"C01ENGBACK": "eng-backend"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<!channel> wake up", "@channel wake up"),
        ("<!here|here> and <!everyone>", "@here and @everyone"),
        ("hi <@U01ALICE01>", "hi @alice"),
        ("hi <@U09UNKNOWN|bob>", "hi @bob"),
        ("hi <@U09UNKNOWN>", "hi @U09UNKNOWN"),
        ("see <#C01ENGBACK>", "see #eng-backend"),
        ("see <#C01ENGBACK|eng>", "see #eng"),
        ("<!subteam^S123|@oncall> please", "@oncall please"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("<https://evil.example/x?d=1|click here>", "click here (hxxps://evil[.]example/x?d=1)"),
        ("<https://evil.example/x>", "hxxps://evil[.]example/x"),
        ("<http://a.b|a.b>", "hxxp://a[.]b"),
        ("<mailto:root@evil.example|IT>", "IT (root@evil.example)"),
        ("<slack://open|open app>", "open app (slack link)"),
        ("a &lt;!channel&gt; typed literally", "a @channel typed literally"),
        ("fish &amp; chips &amp;lt;", "fish & chips &lt;"),
        ("if a <b> c", "if a <b> c"),
        ("`curl https://x.example/a.sh`", "`curl hxxps://x[.]example/a.sh`"),
        ("![img](https://evil.example/p?secret=1)", "![img](hxxps://evil[.]example/p?secret=1)"),
        ("zero\u200bwidth \u202eRLO\u202c tag\U000e0041", "zerowidth RLO tag"),
    ],
)
def test_render_neutralizes_markup(raw: str, shown: str) -> None:
    assert render_text(raw, USERS, CHANNELS) == shown


def test_render_output_never_contains_slack_markup() -> None:
    hostile = "<!channel> <@U01ALICE01> <#C01ENGBACK> <https://x.example|y> &lt;!here&gt; <!subteam^S1>"
    out = render_text(hostile, USERS, CHANNELS)
    assert "<!" not in out and "<@" not in out and "<#" not in out and "https://" not in out


def test_names_are_single_line_and_inert() -> None:
    assert plain("Mallory \u2066(IT Support)\u2069 <!channel>\n\nline") == "Mallory (IT Support) @channel line"
    assert len(plain("x" * 500)) == 80


def test_defang_and_mentions() -> None:
    assert defang("https://a.b.c/d.e") == "hxxps://a[.]b[.]c/d.e"
    assert defang("ftp://x") == "fxp://x"  # ftp links are fetched too: made inert like http
    assert mentioned_users("<@U01ALICE01> and <@W02BOB0000|bob> <!channel>") == {"U01ALICE01", "W02BOB0000"}


def test_outgoing_text_cannot_create_markup() -> None:
    text = "ping <!channel> and <@U01ALICE01>, see <https://evil.example|docs> & more\u200b"
    escaped = escape_outgoing(text)
    assert "<" not in escaped and ">" not in escaped and "\u200b" not in escaped
    assert escaped.startswith("ping &lt;!channel&gt; and &lt;@U01ALICE01&gt;")
    assert "&amp; more" in escaped


def test_time_windows() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    day = now.timestamp() - 86400
    assert parse_when("1d", now=now) == f"{day:.6f}"
    assert parse_when("12h", now=now) == f"{now.timestamp() - 43200:.6f}"
    assert parse_when("2026-01-01", now=now) == f"{day:.6f}"
    assert parse_when("2026-01-01T00:00:00Z", now=now) == f"{day:.6f}"
    assert parse_when("1767225600.000100", now=now) == "1767225600.000100"
    with pytest.raises(InvalidArgument, match="window like 1d"):
        parse_when("yesterday", now=now)
    assert ts_to_iso("1767225600.000100") == "2026-01-01T00:00:00Z"
    assert ts_to_iso("nonsense") is None


def test_permalinks() -> None:
    assert parse_permalink("https://acme.slack.com/archives/C01GENERAL/p1767225600000100") == (
        "C01GENERAL",
        "1767225600.000100",
        None,
    )
    link = "https://acme.enterprise.slack.com/archives/C01ENGBACK/p1767225700000200?thread_ts=1767225600.000100&cid=C01ENGBACK"
    assert parse_permalink(link) == ("C01ENGBACK", "1767225700.000200", "1767225600.000100")
    for bad in (
        "https://evil.example/archives/C01GENERAL/p1767225600000100",
        "https://acme.slack.com.evil.example/archives/C01GENERAL/p1767225600000100",
        "http://acme.slack.com/archives/C01GENERAL/p1767225600000100",
        "https://acme.slack.com/archives/general/p1767225600000100",
    ):
        with pytest.raises(InvalidArgument):
            parse_permalink(bad)
