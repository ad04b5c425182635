"""Canary secrets of every kind the egress filter promises to mask, and the checks that none leaked.

Every value is fake: right in shape, made of repeated filler. `PLANTED` holds them all, in the forms
they take in real data (a CI log, an env file, a kubeconfig, JSON, URLs); servers' backends return it
wherever they return text, and `assert_clean` checks every sink (answers, logs, audit events) for the
secret parts. `VISIBLE` sits beside them, so a test also proves the text really came back.
"""

from __future__ import annotations

import json

VISIBLE = "canary-context-visible-7q"
"""Ordinary text planted next to the secrets: it must come back (else nothing was really tested)."""

GHS = "ghs_" + "Cn4ryGhs" * 4 + "Zz9q"
GHP = "ghp_" + "Cn4ryGhp" * 4 + "Yy8w"
GITHUB_PAT = "github_pat_11CANARY0000" + "Cn4ryPat" * 10
AWS_ID = "AKIA" + "CANARYC4N4RYK3YS"
AWS_SECRET = "Cn4ry/AwsSecretKey+" + "q" * 21
SLACK = "xoxb-111111111111-222222222222-" + "Cn4rySlackToken0" * 2
WEBHOOK = "https://hooks.slack.com/services/T0CANARY1/B0CANARY2/" + "Cn4ryWebhook" * 2
GITLAB = "glpat-" + "Cn4ryGitLab" * 2
STRIPE = "sk_live_" + "Cn4ryStripe" * 3
OPENAI = "sk-proj-" + "Cn4ryOpenAi" * 3 + "T3BlbkFJ" + "Cn4ryOpenAi" * 2
ANTHROPIC = "sk-ant-api03-" + "Cn4ryAnthropic" * 6
NPM = "npm_" + "Cn4ryNpm" * 4 + "abcd"
PYPI = "pypi-AgEIcHlwaS5vcmc" + "Cn4ryPyPi" * 8
GCP_KEY = "AIza" + "SyCn4ryGcpApiKey" * 2 + "abc"
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImNhbmFyeSJ9.eyJzdWIiOiJjYW5hcnktand0LXN1YmplY3QifQ.Cn4ryJwtSignature0aZ"
PEM_BODY = ["MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCn4rYpEmB0dy01"] + [
    f"Cn4ryPemBody{index:02d}" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaA"[:52] for index in range(6)
]
PEM = "\n".join(["-----BEGIN PRIVATE KEY-----", *PEM_BODY, "-----END PRIVATE KEY-----"])
DSN_PASSWORD = "Cn4ryDsnPassw0rd"
AZURE_KEY = "Cn4ryAzureAccountKey" * 4 + "AAAAAAAA=="
DB_PASS = "Cn4ryDbPass-31"
SIGNING = "Cn4ryJwtSigningKey-77"
ENCRYPTION = "Cn4ryEncryptionKey-42"
HMAC = "Cn4ryHmacKey-19"
DOCKER_AUTH = "Y2FuYXJ5OkNuNHJ5RG9ja2VyQXV0aA=="  # base64 of canary:Cn4ryDockerAuth
INI_PASS = "Cn4ryIniPass-55"
BEARER = "Cn4ryBearerToken0123456789"
SIGNATURE = "Cn4rySignature0123456789abcdef"
DOWNLOAD_TOKEN = "ACn4ryDownloadTokenAAAAA"

GCP_SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "project_id": "canary-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": PEM + "\n",
        "client_email": "canary@canary-project.iam.gserviceaccount.com",
    }
)

PLANTED = "\n".join(
    [
        f"{VISIBLE}: deploy step",
        f"git clone https://x-access-token:{GHS}@github.com/acme/api.git",
        f"export GITHUB_TOKEN={GHP}",
        f"using {GITHUB_PAT} for the release",
        f"AWS_ACCESS_KEY_ID={AWS_ID}",
        f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
        f"credentials.csv: {AWS_ID},{AWS_SECRET}",
        f"slack token {SLACK} posting to {WEBHOOK}",
        f"gitlab {GITLAB} stripe {STRIPE} openai {OPENAI}",
        f"anthropic {ANTHROPIC} npm {NPM} pypi {PYPI} gcp {GCP_KEY}",
        f"id_token: {JWT}",
        "loading key:",
        PEM,
        f"DATABASE_URL=postgresql://app:{DSN_PASSWORD}@db.internal:5432/shop",
        f"AZURE=DefaultEndpointsProtocol=https;AccountName=canary;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net",
        f"DB_PASS={DB_PASS}",
        f"JWT_SIGNING_KEY: {SIGNING}",
        f'{{"ENCRYPTION_KEY": "{ENCRYPTION}", "HMAC_KEY": "{HMAC}"}}',
        f'{{"auths": {{"registry.acme.io": {{"auth": "{DOCKER_AUTH}"}}}}}}',
        "[database]",
        f"pass = {INI_PASS}",
        f"curl -H 'Authorization: Bearer {BEARER}' https://api.acme.io",
        f"https://acme.s3.amazonaws.com/dump.sql?X-Amz-Credential=x&X-Amz-Signature={SIGNATURE}",
        f"https://raw.githubusercontent.com/acme/api/main/.env?token={DOWNLOAD_TOKEN}",
        f"service account: {GCP_SERVICE_ACCOUNT}",
        f"{VISIBLE}: done",
    ]
)

SECRETS = [
    GHS,
    GHP,
    GITHUB_PAT,
    AWS_ID,
    AWS_SECRET,
    SLACK,
    WEBHOOK.rsplit("/", 1)[-1],
    GITLAB,
    STRIPE,
    OPENAI,
    ANTHROPIC,
    NPM,
    PYPI,
    GCP_KEY,
    JWT.rsplit(".", 1)[-1],
    *(line[:40] for line in PEM_BODY),
    DSN_PASSWORD,
    AZURE_KEY[:40],
    DB_PASS,
    SIGNING,
    ENCRYPTION,
    HMAC,
    DOCKER_AUTH,
    INI_PASS,
    BEARER,
    SIGNATURE,
    DOWNLOAD_TOKEN,
]
"""The parts that must never be seen: each is a whole secret or a piece no masking would leave."""


def leaks(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [secret for secret in (*SECRETS, *extra) if secret in text]


def assert_clean(sinks: dict[str, str], extra: tuple[str, ...] = ()) -> None:
    """No secret in any sink."""
    leaked = {name: found for name, content in sinks.items() if (found := leaks(content, extra))}
    assert not leaked, f"leaked: {leaked}"
