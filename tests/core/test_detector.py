"""The one detector: every kind it promises, and nothing it must leave alone.

Canaries are realistic in shape and fake in value (documentation examples or made-up digits).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from warden_core.detector import KINDS, Detector, is_marker, key_kind, load_patterns, marker
from warden_core.settings import CoreSettings, SettingsError

DETECTOR = Detector()
GHS = "ghs_" + "Ab1" * 12
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(["MIIEowIBAAKCAQEAx9" + "Q" * 46] * 5)
    + "\n-----END RSA PRIVATE KEY-----"
)

# (text, the part that must disappear, the kind reported)
POSITIVES = [
    (f"token {GHS} used", GHS, "github-token"),
    ("ghp_" + "x9" * 18, "ghp_" + "x9" * 18, "github-token"),
    ("github_pat_11AAAAAAA0" + "b" * 72, "github_pat_11AAAAAAA0", "github-token"),
    ("glpat-" + "aB3" * 8, "glpat-aB3", "gitlab-token"),
    ("xoxb-1111111111-2222222222-" + "c" * 24, "xoxb-1111111111", "slack-token"),
    ("xapp-1-A0123456789-1234567890123-" + "d" * 64, "xapp-1-A0123456789", "slack-token"),
    ("hook https://hooks.slack.com/services/T0000AAAA/B0000BBBB/" + "e" * 24, "hooks.slack.com", "slack-webhook"),
    ("hook hxxps://hooks[.]slack[.]com/services/T0000AAAA/B0000BBBB/" + "e" * 24, "B0000BBBB", "slack-webhook"),
    ("id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
    ("ASIAY34FZKBOKMUTVV7A,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws-secret-key"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws-secret-key"),
    ('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "wJalrXUtnFEMI", "aws-secret-key"),
    ("key=AIzaSyA-" + "f1" * 16, "AIzaSyA-f1", "gcp-api-key"),
    ("GOCSPX-" + "g2" * 14, "GOCSPX-g2", "gcp-client-secret"),
    ("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + "h3" * 44 + "==;", "h3h3", "azure-key"),
    ("sk_live_" + "i4" * 12, "sk_live_i4", "stripe-key"),
    ("whsec_" + "j5" * 16, "whsec_j5", "stripe-key"),
    ("sk-proj-" + "k6" * 20 + "T3BlbkFJ" + "l7" * 10, "T3BlbkFJ", "openai-key"),
    ("sk-ant-api03-" + "m8" * 40, "sk-ant-api03", "anthropic-key"),
    ("npm_" + "n9" * 18, "npm_n9", "npm-token"),
    ("pypi-AgEIcHlwaS5vcmc" + "o0" * 40, "pypi-AgEIcHlwaS5vcmc", "pypi-token"),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "c2lnbmF0dXJl", "jwt"),
    (PEM, "MIIEowIBAAKCAQEAx9", "private-key"),
    (json.dumps({"private_key": PEM}), "MIIEowIBAAKCAQEAx9", "private-key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "b3BlbnNzaC1rZXktdjEAAAAA", "private-key"),
    ("git clone https://x-access-token:" + GHS + "@github.com/acme/app", GHS, "url-password"),
    ("postgresql://app:Sup3r-s3cret@db.internal/prod", "Sup3r-s3cret", "url-password"),
    ("https://api.github.com/raw/x.txt?token=AAAB3NzaC1yc2EAAAADAQAB", "AAAB3NzaC1yc2E", "url-token"),
    ("https://b.blob.core.windows.net/c?sv=2021-12-02&sig=AbCdEf0123%2Bxyz%3D", "AbCdEf0123", "url-token"),
    (
        "https://s3.amazonaws.com/b/k?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE&X-Amz-Signature=f00d",
        "IQoJb3J",
        "url-token",
    ),
    ("https://storage.googleapis.com/b/o?X-Goog-Signature=0a1b2c3d4e5f6a7b", "0a1b2c3d4e5f", "url-token"),
    ("connecting host=db user=app password=Tr0ub4dor&3 dbname=shop", "Tr0ub4dor", "password"),
    ("DB_PASS=Tr0ub4dor", "Tr0ub4dor", "password"),
    ("export API_TOKEN='q1w2e3r4t5y6'", "q1w2e3r4t5y6", "token"),
    ("[mysql]\npass = correct horse battery staple\n", "horse battery", "password"),
    ("db:\n  password: |\n    first-line-secret\n    second-line-secret\n", "line-secret", "password"),
    ('{"auths":{"registry.acme.io":{"auth":"YWNtZTpodW50ZXIy"}}}', "YWNtZTpodW50ZXIy", "token"),
    ('{\\"client_secret\\":\\"zx81-qq\\"}', "zx81-qq", "secret"),
    ("JWT_SIGNING_KEY: 7c1f0a9e", "7c1f0a9e", "signing-key"),
    ("ENCRYPTION_KEY=0f0e0d0c0b0a", "0f0e0d0c0b0a", "encryption-key"),
    ("HMAC_KEY = s1gn-me", "s1gn-me", "signing-key"),
    ("X-Api-Key: live-8f7e6d5c", "live-8f7e6d5c", "api-key"),
    ("Authorization: Bearer qwerty123456uiop7890", "qwerty123456uiop7890", "token"),
    ("curl -H 'Authorization: Basic YWxpY2U6czNjcmV0'", "YWxpY2U6czNjcmV0", "token"),
    ("proxy said Basic YWxpY2U6czNjcmV0 was refused", "YWxpY2U6czNjcmV0", "basic-auth"),
    ("sent bearer abcDEF123456ghiJKL789 upstream", "abcDEF123456ghiJKL789", "bearer-token"),
]

# Text that must come back byte for byte.
NEGATIVES = [
    "commit 5f2b9c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c by alice",
    f"request {uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0)} took 42 ms",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 8).decode(),
    "secretName: web-tls",
    "max_tokens: 500",
    '{"NextToken": "eyJ2IjoxfQ==", "Key": "reports/2026/q3.csv", "token_type": "bearer"}',
    "password_policy: strong\npublic_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq",
    "the bearer of this letter, with basic authentication enabled",
    "token: str = Field(description='The token.')",
    "password=settings.password",
    "connect(password=password, token=token)",
    "auth: true\nsecret: null\ntoken: ${API_TOKEN}\npassword: <your password>",
    "postgresql://readonly@localhost/shop and https://example.com/a?b=c&page=2",
    "SELECT id, email, created_at FROM customers WHERE status = 'active' LIMIT 50",
    "2026-11-21T10:00:00Z INFO GET /api/orders/42 200 12ms user=u-77 trace=4bf92f3577b34da6",
    "Started container web; Pulled image registry.example.com/app:1.4.2",
]


@pytest.mark.parametrize(
    ("text", "secret", "kind"), POSITIVES, ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(POSITIVES)]
)
def test_every_promised_kind_is_found_and_masked(text: str, secret: str, kind: str) -> None:
    masked, counts = DETECTOR.mask(text)
    assert secret not in masked, masked
    assert kind in counts, counts


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_data_comes_back_byte_identical(text: str) -> None:
    assert DETECTOR.mask(text) == (text, {})


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("DB_PASS", "password"),
        ("pgpassword", "password"),
        ("clientSecret", "secret"),
        ("X-Api-Key", "api-key"),
        ("JWT_SIGNING_KEY", "signing-key"),
        ("SecretAccessKey", "aws-secret-key"),
        ("AccountKey", "azure-key"),
        ("auth", "token"),
        ("GITHUB_PAT", "token"),
        ("SecretString", "secret"),
        ("secretName", None),
        ("NextToken", None),
        ("next_page_token", None),
        ("max_tokens", None),
        ("public_key", None),
        ("Key", None),
        ("oauth", None),
        ("bypass", None),
        ("author", None),
        ("token_type", None),
    ],
)
def test_key_names_are_judged_by_their_last_word(key: str, kind: str | None) -> None:
    assert key_kind(key) == kind


def test_a_private_key_keeps_the_line_count_and_is_masked_across_lines() -> None:
    text = f"before\n{PEM}\nafter"
    masked, counts = DETECTOR.mask(text)
    assert masked.count("\n") == text.count("\n")
    assert masked.splitlines() == ["before", *["[masked: private-key]"] * len(PEM.splitlines()), "after"]
    assert counts == {"private-key": 1}


def test_a_key_cut_short_is_masked_to_the_end_of_its_body_and_a_key_without_its_begin_too() -> None:
    cut = PEM.rsplit("\n", 2)[0]  # a result truncated inside the key
    assert "MIIE" not in DETECTOR.mask(f"log: {cut}")[0]
    tail = "\n".join(PEM.splitlines()[2:])  # a log tail that starts inside the key
    masked = DETECTOR.mask(f"starting\n{tail}\nready")[0]
    assert "MIIE" not in masked and masked.startswith("starting\n") and masked.endswith("\nready")


def test_markers_never_take_more_bytes_than_the_secret() -> None:
    for text, _, _ in POSITIVES:
        assert len(DETECTOR.mask(text)[0].encode()) <= len(text.encode())
    assert DETECTOR.mask("pwd=ab12")[0] == "pwd=***"
    assert marker("github-token", 100) == "[masked: github-token]" and marker("github-token", 10) == "[masked]"
    assert all(is_marker(marker("password", room)) for room in range(1, 30))


def test_masking_is_idempotent() -> None:
    for text, _, _ in POSITIVES:
        once = DETECTOR.mask(text)[0]
        assert DETECTOR.mask(once) == (once, {})


def test_disabled_kinds_are_left_alone_and_the_rest_still_masked() -> None:
    detector = Detector(disabled={"jwt", "password"})
    jwt = POSITIVES[21][0]
    text = f"{jwt} DB_PASS=Tr0ub4dor token={GHS}"
    masked, counts = detector.mask(text)
    assert jwt in masked and "Tr0ub4dor" in masked and GHS not in masked
    assert counts == {"github-token": 1}


def test_a_text_packed_with_candidates_is_masked_in_pieces_not_slowly() -> None:
    text = "pwd=abcd\n" * 20_000 + "token=" + GHS
    masked, counts = DETECTOR.mask(text)
    assert "abcd" not in masked.split("\n", 3000)[-1][-20_000:] and GHS not in masked
    assert counts["dense-candidates"] > 0


def test_every_kind_the_rules_report_is_documented() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [kind for kind in KINDS if f"`{kind}`" not in readme]
    assert not missing, f"README does not list {missing}"


def test_the_operator_file_adds_patterns_and_values(tmp_path: Path) -> None:
    path = tmp_path / "extra.toml"
    path.write_text(
        'values = ["internal-canary-value-77"]\n'
        "[[pattern]]\nkind = \"acme-token\"\nregex = 'acme_(?P<v>[a-z0-9]{16})'\n"
    )
    rules, values = load_patterns(path)
    detector = Detector((*rules, *Detector().rules), values=values)
    masked, counts = detector.mask("x acme_0123456789abcdef y internal-canary-value-77")
    assert masked == "x acme_[masked] y [masked]"  # markers fitted into the secret's own length
    assert counts == {"acme-token": 1, "server-credential": 1}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("values = 3", "must be a list of strings"),
        ('[[pattern]]\nkind = "Bad Kind"\nregex = "x"', "needs a `kind`"),
        ('[[pattern]]\nkind = "k"\nregex = "(?<=x)y"', "not a valid RE2 regex"),
        ('[[pattern]]\nkind = "k"\nregex = "a*"', "matches the empty string"),
        ("not toml = = =", "not valid TOML"),
    ],
)
def test_a_bad_operator_file_stops_the_server_naming_the_setting(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "extra.toml"
    path.write_text(content)
    with pytest.raises(SettingsError) as caught:
        CoreSettings.load(egress_patterns_file=path)
    assert "WARDEN_EGRESS_PATTERNS_FILE" in str(caught.value) and problem in str(caught.value)


def test_an_unknown_kind_to_disable_is_refused() -> None:
    with pytest.raises(SettingsError, match="WARDEN_EGRESS_DISABLE"):
        CoreSettings.load(egress_disable="jwt,not-a-kind")
    assert CoreSettings.load(egress_disable="jwt,url-token").egress_disable == ("jwt", "url-token")
