"""Settings fail fast with one line; the egress hook keeps every request on AWS, in allowed regions."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.aws.conftest import make_server
from warden_aws.client import AwsClient
from warden_aws.settings import Settings
from warden_core import PolicyDenied, SettingsError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("setting", "value", "env"),
    [
        ("region", "moon-1", "WARDEN_AWS_REGION"),
        ("accounts", "12345678901234", "WARDEN_AWS_ACCOUNTS"),
        ("regions", "EU_WEST", "WARDEN_AWS_REGIONS"),
        ("allow_sensitive", "GetSecretValue", "WARDEN_AWS_ALLOW_SENSITIVE"),
        ("endpoint_url", "localhost:4566", "WARDEN_AWS_ENDPOINT_URL"),
    ],
)
def test_bad_settings_stop_the_start_naming_the_setting(
    setting: str, value: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    assert env in str(caught.value) and "\n" not in str(caught.value)
    assert value not in str(caught.value) or setting == "region"


def _request(url: str, authorization: str = "") -> SimpleNamespace:
    return SimpleNamespace(url=url, headers={"Authorization": authorization} if authorization else {})


def _signed(region: str) -> str:
    return f"AWS4-HMAC-SHA256 Credential=AKIAFAKE/20261121/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0"


def test_egress_allows_aws_https_only() -> None:
    aws: AwsClient = make_server(regions=("eu-*",)).aws  # type: ignore[attr-defined]
    aws._egress(_request("https://ec2.eu-west-1.amazonaws.com/", _signed("eu-west-1")), regional=True)
    aws._egress(_request("https://ce.us-east-1.amazonaws.com/", _signed("us-east-1")), regional=False)
    for url in (
        "http://ec2.eu-west-1.amazonaws.com/",  # not HTTPS
        "https://169.254.169.254/latest/meta-data/",  # metadata service
        "https://ec2.eu-west-1.amazonaws.com.evil.example/",  # lookalike
        "https://user:pw@ec2.eu-west-1.amazonaws.com/",  # userinfo
        "http://127.0.0.1:4566/",  # an endpoint nobody configured
    ):
        with pytest.raises(PolicyDenied, match="not an AWS endpoint"):
            aws._egress(_request(url), regional=True)
    # A request signed for a region the policy refuses (an S3 redirect, say) never leaves.
    with pytest.raises(PolicyDenied, match="WARDEN_AWS_REGIONS"):
        aws._egress(_request("https://s3.us-west-2.amazonaws.com/b", _signed("us-west-2")), regional=True)


def test_egress_allows_exactly_the_configured_endpoint() -> None:
    aws: AwsClient = make_server(endpoint_url="http://127.0.0.1:4566").aws  # type: ignore[attr-defined]
    aws._egress(_request("http://127.0.0.1:4566/", _signed("us-east-1")), regional=True)
    with pytest.raises(PolicyDenied):
        aws._egress(_request("http://127.0.0.1:4567/"), regional=True)


def test_building_the_server_does_not_import_boto3() -> None:
    code = (
        "import sys\n"
        "from warden_aws.server import build_server\n"
        "from warden_aws.settings import Settings\n"
        "build_server(Settings.load())\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_descriptions_do_not_depend_on_configuration() -> None:
    plain = make_server()
    narrowed = make_server(regions=("eu-west-1",), accounts=("111111111111",), services=("ec2",), profile="prod")
    assert [(s.name, s.description) for s in plain.specs] == [(s.name, s.description) for s in narrowed.specs]
