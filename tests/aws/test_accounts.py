"""WARDEN_AWS_ACCOUNTS also refuses requests that name another account, however the name is dressed up.

Every test here configures WARDEN_AWS_ACCOUNTS, because that setting is what is under test: with the
default `*` nothing is searched (the last test shows it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.aws.conftest import ACCOUNT, REGION, call, data, make_server, record_requests, text_of
from warden_aws.accounts import MAX_DEPTH, named_accounts
from warden_aws.classification import Classification
from warden_aws.policy import OperationPolicy
from warden_core import Allowlist, InvalidArgument, PolicyDenied

OTHER = "999988887777"


def percent_encoded(text: str) -> str:
    return "".join(f"%{ord(char):02X}" for char in text)


def accounts(value: Any) -> set[str]:
    return {account for account, _ in named_accounts(value)}


@pytest.mark.parametrize(
    "value",
    [
        {"RoleArn": f"arn:aws:iam::{OTHER}:role/admin"},
        {"Filters": [{"Name": "x", "Values": ["a", f"arn:aws:ec2:us-east-1:{OTHER}:vpc/vpc-1"]}]},
        {"A": {"B": [{"C": [f"arn:aws:lambda:us-east-1:{OTHER}:function:f"]}]}},
        {"Name": f"arn:aws-cn:iam::{OTHER}:role/x"},
        {"Name": f"arn:aws-us-gov:s3:us-gov-west-1:{OTHER}:accesspoint/ap"},
        {"Name": f"arn:aws-iso-b:kms:us-isob-east-1:{OTHER}:key/k"},
        {"Name": f"ARN:AWS:IAM::{OTHER}:ROLE/X"},
        {"Name": f"  arn : aws : iam :: {OTHER} :role/x  "},
        {"Name": "arn:aws:iam:: 9999 8888 7777 :role/x"},
        {"Name": "arn:aws:iam::9999\u200b88887777:role/x"},  # a zero-width space inside the account
        {"Name": "arn:aws:iam::\uff19\uff19\uff19\uff19\uff18\uff18\uff18\uff18\uff17\uff17\uff17\uff17:role/x"},
        {"Query": f"fields @message | filter @log = 'arn:aws:logs:us-east-1:{OTHER}:log-group:/app'"},
        {"Name": f"arn:x arn:aws:iam::{OTHER}:role/x"},  # a decoy 'arn:' does not swallow the real one
        {"Name": percent_encoded(f"arn:aws:iam::{OTHER}:role/x")},  # every character, digits too
        {"Name": percent_encoded(percent_encoded(f"arn:aws:iam::{OTHER}:role/x"))},  # twice
        {"policyDocument": json.dumps({"Statement": [{"Resource": f"arn:aws:s3:us-east-1:{OTHER}:job/j"}]})},
        {"policyDocument": '{"Principal": {"AWS": "arn:aws:iam::\\u0039\\u0039\\u0039\\u003988887777:root"}}'},
        {
            "policyDocument": percent_encoded(
                '{"Principal": {"AWS": "arn:aws:iam::\\u0039\\u0039\\u0039\\u003988887777:x"}}'
            )
        },
        {"Tags": {f"arn:aws:iam::{OTHER}:role/x": "v"}},  # a key
        {"registryId": OTHER},
        {"OwnerIds": [f" {OTHER} "]},
        {"Condition": json.dumps({"StringEquals": {"aws:SourceAccount": OTHER}})},
        {"queryString": f"SOURCE logGroups(accountIdentifiers: ['{OTHER}']) | fields @message"},
    ],
)
def test_another_account_is_found_however_it_is_named(value: dict[str, Any]) -> None:
    assert OTHER in accounts(value)


@pytest.mark.parametrize(
    "value",
    [
        {"Bucket": "arn:aws:s3:::acme-logs"},  # S3 bucket ARNs have no account field
        {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},  # AWS managed: 'aws' is not an account
        {"Resource": "arn:aws:iam::*:role/x"},
        {"Name": "arn:aws:iam::99998888777:role/x"},  # 11 digits
        {"StartTime": "1767225600000"},  # a 13-digit epoch in milliseconds
        {"PhoneNumber": "+999988887777"},
        {"MaxResults": 999988887777},  # numbers are not strings AWS reads as ids
        {"Name": "i-0123456789abcdef0"},
    ],
)
def test_what_names_no_account(value: dict[str, Any]) -> None:
    assert accounts(value) == set()


def test_where_an_account_was_found_is_reported() -> None:
    found = list(named_accounts({"Statements": [{"Principal": f"arn:aws:iam::{OTHER}:root"}]}))
    assert found == [(OTHER, "parameters.Statements[0].Principal")]


def test_absurd_nesting_is_refused_rather_than_searched() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(InvalidArgument, match="nested more than"):
        accounts({"A": deep})


def policy(allowed: tuple[str, ...]) -> OperationPolicy:
    return OperationPolicy(
        Classification.load(),
        services=Allowlist("WARDEN_AWS_SERVICES", ("*",)),
        accounts=Allowlist("WARDEN_AWS_ACCOUNTS", allowed),
        allow_sensitive=Allowlist("WARDEN_AWS_ALLOW_SENSITIVE", ()),
    )


def test_the_policy_refuses_before_anything_else_and_names_the_setting() -> None:
    params = {"PolicySourceArn": f"arn:aws:iam::{OTHER}:user/ci", "ActionNames": ["s3:GetObject"]}
    operations = ["SimulatePrincipalPolicy"]
    with pytest.raises(PolicyDenied) as refused:
        policy((ACCOUNT,)).decide("iam", "SimulatePrincipalPolicy", params, operations)
    assert str(refused.value) == (
        f"iam:SimulatePrincipalPolicy names AWS account '{OTHER}' (in parameters.PolicySourceArn), which is not "
        "allowed by this server's policy (WARDEN_AWS_ACCOUNTS); nothing was sent"
    )
    # Curated operations are checked too, and globs work as for the credential's account.
    with pytest.raises(PolicyDenied, match="WARDEN_AWS_ACCOUNTS"):
        policy((ACCOUNT,)).decide("logs", "StartQuery", {"queryString": f"SOURCE x {OTHER}"}, [], curated=True)
    own = {"PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:user/ci", "ActionNames": ["s3:GetObject"]}
    assert policy((ACCOUNT,)).decide("iam", "SimulatePrincipalPolicy", own, operations).cls == "read"
    assert policy(("9999*", ACCOUNT)).decide("iam", "SimulatePrincipalPolicy", params, operations).cls == "read"


@pytest.mark.anyio
@pytest.mark.usefixtures("moto")
@pytest.mark.parametrize(
    ("service", "operation", "parameters"),
    [
        ("iam", "SimulatePrincipalPolicy", {"PolicySourceArn": f"arn:aws:iam::{OTHER}:role/x", "ActionNames": ["*"]}),
        ("lambda", "GetFunctionConfiguration", {"FunctionName": f"arn:aws:lambda:us-east-1:{OTHER}:function:fn"}),
        ("ecr", "DescribeImages", {"repositoryName": "app", "registryId": OTHER}),
        (
            "accessanalyzer",
            "ValidatePolicy",
            {
                "policyType": "RESOURCE_POLICY",
                "policyDocument": json.dumps({"Statement": [{"Principal": {"AWS": f"arn:aws-cn:iam::{OTHER}:root"}}]}),
            },
        ),
    ],
)
async def test_a_request_naming_another_account_never_reaches_aws(
    service: str, operation: str, parameters: dict[str, Any]
) -> None:
    server = make_server(accounts=(ACCOUNT,), services=("*",))
    log = record_requests(server)
    result = await call(server, "aws_call", {"service": service, "operation": operation, "parameters": parameters})
    assert result.is_error and "WARDEN_AWS_ACCOUNTS" in text_of(result) and OTHER in text_of(result)
    assert log.sent == [], f"{service}:{operation} reached AWS: {log.sent}"  # not even STS


@pytest.mark.anyio
@pytest.mark.usefixtures("moto")
async def test_an_arn_in_an_allowed_account_works() -> None:
    from tests.aws.test_tools import seed_lambda

    seed_lambda(1)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-0"
    server = make_server(accounts=(ACCOUNT,), services=("*",))
    log = record_requests(server)
    answer = data(
        await call(
            server,
            "aws_call",
            {"service": "lambda", "operation": "GetFunctionConfiguration", "parameters": {"FunctionName": arn}},
        )
    )
    assert answer["result"]["FunctionArn"] == arn
    assert log.sent == ["sts:GetCallerIdentity", "lambda:GetFunctionConfiguration"]


@pytest.mark.anyio
@pytest.mark.usefixtures("moto")
async def test_with_every_account_allowed_nothing_is_searched() -> None:
    server = make_server(services=("*",))  # WARDEN_AWS_ACCOUNTS left at its default, `*`
    log = record_requests(server)
    foreign = f"arn:aws:lambda:{REGION}:{OTHER}:function:fn-0"
    result = await call(
        server,
        "aws_call",
        {"service": "lambda", "operation": "GetFunctionConfiguration", "parameters": {"FunctionName": foreign}},
    )
    assert "WARDEN_AWS_ACCOUNTS" not in text_of(result)
    assert log.sent == ["lambda:GetFunctionConfiguration"]  # AWS decides, as it would without Warden


@pytest.mark.anyio
@pytest.mark.usefixtures("moto")
async def test_s3_requests_expect_a_bucket_of_the_credentials_own_account() -> None:
    from tests.aws.test_stubbed import canned

    server = make_server(accounts=(ACCOUNT, OTHER), services=("*",))
    owners: list[str | None] = []

    def answer(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        owners.append(params["headers"].get("x-amz-expected-bucket-owner"))
        return {"Contents": [], "KeyCount": 0, "IsTruncated": False}

    canned(server, "s3", answer)
    listing = {"service": "s3", "operation": "ListObjectsV2"}
    data(await call(server, "aws_call", {**listing, "parameters": {"Bucket": "acme-logs"}}))
    data(await call(server, "aws_s3_objects", {"bucket": "acme-logs"}))
    # A bucket in another allowed account is read by naming that account; S3 checks the owner.
    data(await call(server, "aws_call", {**listing, "parameters": {"Bucket": "partner", "ExpectedBucketOwner": OTHER}}))
    assert owners == [ACCOUNT, ACCOUNT, OTHER]
    # With every account allowed, nothing is added (and STS is not asked who the credential is).
    unrestricted = make_server(services=("*",))
    owners.clear()
    canned(unrestricted, "s3", answer)
    data(await call(unrestricted, "aws_call", {**listing, "parameters": {"Bucket": "acme-logs"}}))
    assert owners == [None]
