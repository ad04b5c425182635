"""The classification is data derived from botocore's service models, and the policy follows it.

These tests re-derive the evidence from the installed botocore and check the committed data against it:
every read is justified by the evidence (or a recorded review reason that the structure still supports),
the sensitive set is refused, and unknown means refused. Small hand-written models pin the rules that find
secrets and presigned URLs in an answer, so a change to a rule shows up here and not only as a data diff.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from warden_aws.classification import Classification, digest
from warden_aws.evidence import (
    DRY_RUN_VERBS,
    READ_VERBS,
    Evidence,
    looks_read,
    propose,
    secret_name,
    service_evidence,
    structurally_read,
)
from warden_aws.policy import OperationPolicy
from warden_core import Allowlist, PolicyDenied

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "servers" / "aws" / "src" / "warden_aws" / "data" / "classification.json"

# The issue's list, and what a reviewer added from the data.
SENSITIVE = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoot",
    "sts:GetSessionToken",
    "sts:GetFederationToken",
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "ecr:GetAuthorizationToken",
    "iam:CreateAccessKey",
    "s3:GetObject",
    "s3:GetObjectTorrent",
    "sso:GetRoleCredentials",
    "cognito-identity:GetCredentialsForIdentity",
    "cognito-identity:GetOpenIdToken",
    "lambda:GetFunction",
    "lambda:GetLayerVersion",
    "ec2:GetPasswordData",
    "ec2:GetConsoleOutput",
    "redshift:GetClusterCredentials",
    "codeartifact:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "dynamodb:GetItem",
    "emr:GetPersistentAppUIPresignedURL",
    "sagemaker:CreatePresignedDomainUrl",
    # Reads botocore does not mark, found by the names in their answers (or reviewed where names cannot tell).
    "lakeformation:GetTemporaryGluePartitionCredentials",
    "license-manager:GetAccessToken",
    "athena:GetSessionEndpoint",
    "gamelift:GetComputeAuthToken",
    "cloudhsmv2:DescribeClusters",
    "cognito-idp:DescribeIdentityProvider",
    "glue:GetJob",
    "appsync:ListApiKeys",
    "codepipeline:ListWebhooks",
    "directconnect:DescribeVirtualInterfaces",
    "ec2:DescribeVpnConnections",
    "lightsail:GetBucketAccessKeys",
    # Presigned and one-time URLs, by a member's name, its documentation or the operation's name.
    "auditmanager:GetAssessmentReportUrl",
    "amplify:GetArtifactUrl",
    "m2:GetSignedBluinsightsUrl",
    "datazone:GetIamPortalLoginUrl",
    "transcribe:GetTranscriptionJob",
]
DRY_RUNS = [
    "config:SelectResourceConfig",
    "accessanalyzer:ValidatePolicy",
    "iam:SimulatePrincipalPolicy",
    "ses:TestRenderTemplate",
    "gamelift:ValidateMatchmakingRuleSet",
]
READS_WITH_SECRET_LOOKING_NAMES = [
    "sqs:GetQueueUrl",  # a queue URL is an address, not a credential
    "lambda:GetFunctionUrlConfig",
    "logs:GetLogEvents",  # nextForwardToken pages
    "ec2:DescribeInstances",  # MetadataOptions.HttpTokens is a setting
    "rds:DescribeDBInstances",  # PendingModifiedValues.MasterUserPassword: the RDS API never returns it
    "elbv2:DescribeListeners",  # AuthenticateOidcConfig.ClientSecret is write-only
    "fsx:DescribeFileSystems",  # FsxAdminPassword 'is always redacted in the response'
    "codepipeline:GetPipelineState",  # an approval token identifies the request
    "ses:GetIdentityDkimAttributes",  # DKIM tokens are published in DNS
    "iam:ListUsers",  # PasswordLastUsed is a date
    "secretsmanager:DescribeSecret",  # names and ARNs of a secret, not its value
    "ec2:DescribeKeyPairs",  # a public key
]
CONDITIONAL = {
    "ssm:GetParameter": ({"Name": "db"}, {"Name": "db", "WithDecryption": True}),
    "ssm:GetParameters": ({"Names": ["db"]}, {"Names": ["db"], "WithDecryption": True}),
    "ssm:GetParametersByPath": ({"Path": "/app"}, {"Path": "/app", "WithDecryption": True}),
    "ssm:GetParameterHistory": ({"Name": "db"}, {"Name": "db", "WithDecryption": True}),
    "glue:GetConnection": ({"Name": "c", "HidePassword": True}, {"Name": "c"}),
    "apigateway:GetApiKey": ({"apiKey": "k"}, {"apiKey": "k", "includeValue": True}),
    "ec2:DescribeInstanceAttribute": (
        {"InstanceId": "i-0123456789abcdef0", "Attribute": "instanceType"},
        {"InstanceId": "i-0123456789abcdef0", "Attribute": "userData"},
    ),
}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_classify", ROOT / "scripts" / "aws_classify.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["aws_classify"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evidence(generator: ModuleType) -> dict[str, dict[str, Evidence]]:
    return {service: {ev.operation: ev for ev in evs} for service, evs in generator.derive().items()}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return json.loads(DATA.read_text())  # type: ignore[no-any-return]


def policy(services: tuple[str, ...] = ("*",), allow: tuple[str, ...] = ()) -> OperationPolicy:
    return OperationPolicy(
        Classification.load(),
        services=Allowlist("WARDEN_AWS_SERVICES", services),
        accounts=Allowlist("WARDEN_AWS_ACCOUNTS", ("*",)),
        allow_sensitive=Allowlist("WARDEN_AWS_ALLOW_SENSITIVE", allow),
    )


def operations(evidence: dict[str, dict[str, Evidence]], key: str) -> tuple[str, str, list[str]]:
    service, _, operation = key.partition(":")
    return service, operation, list(evidence[service])


def test_the_committed_data_is_what_the_generator_derives_from_this_botocore(
    generator: ModuleType, evidence: dict[str, dict[str, Evidence]]
) -> None:
    derived = generator.render(generator.classify({service: list(ops.values()) for service, ops in evidence.items()}))
    assert derived == DATA.read_text(), "run scripts/aws_classify.py and review the diff"


def test_every_read_is_justified_by_the_evidence(
    evidence: dict[str, dict[str, Evidence]], data: dict[str, Any]
) -> None:
    reads = 0
    for service, entry in data["services"].items():
        reviewed = entry.get("reviewed_read", {})
        for operation in entry["read"]:
            ev = evidence[service][operation]
            reads += 1
            # Invariants checked on the raw evidence, independent of the proposal logic.
            assert ev.method in {"GET", "HEAD", "POST"}, ev
            assert ev.has_output and not ev.idempotency_token and not ev.streaming_input, ev
            assert not ev.streaming_output, f"{ev.key} streams content and cannot be a plain read"
            assert not ev.secret_output, f"{ev.key} returns secrets and cannot be a plain read"
            assert not ev.credential_output, f"{ev.key} returns credentials and cannot be a plain read"
            assert not ev.presigned_output, f"{ev.key} returns a presigned URL and cannot be a plain read"
            if operation in reviewed:
                assert structurally_read(ev), ev
                # A read name under a misleading documentation verb, or a dry run a reviewer read.
                reason = reviewed[operation]
                verbs = DRY_RUN_VERBS if reason.startswith("dry run: ") else READ_VERBS
                assert reason.startswith(("documentation", "dry run: ")) and ev.verb in verbs, (ev.key, reason)
            else:
                assert looks_read(ev), f"{ev.key} is committed as a read but the evidence does not say so"
                assert propose(ev).cls == "read"
    assert reads == data["counts"]["read"] > 5000


def test_describe_list_get_reads_carry_their_evidence(evidence: dict[str, dict[str, Evidence]]) -> None:
    classification = Classification.load()
    for key in ("ec2:DescribeInstances", "s3:ListObjectsV2", "lambda:ListFunctions", "logs:GetQueryResults"):
        service, operation, names = operations(evidence, key)
        assert classification.lookup(service, operation, names).cls == "read"
        ev = evidence[service][operation]
        assert ev.verb in READ_VERBS and looks_read(ev)
    # A Get that creates something is not a read, whatever its name says.
    service, operation, names = operations(evidence, "cognito-identity:GetId")
    assert classification.lookup(service, operation, names).cls == "write"
    assert evidence[service][operation].doc_verb == "generates"


def test_counts_add_up(evidence: dict[str, dict[str, Evidence]], data: dict[str, Any]) -> None:
    total = sum(len(ops) for ops in evidence.values())
    counts = data["counts"]
    assert counts["read"] + counts["sensitive"] + counts["write"] == total
    assert counts["services"] == len(evidence)
    for service, entry in data["services"].items():
        assert entry["digest"] == digest(list(evidence[service]))


@pytest.mark.parametrize("key", SENSITIVE)
def test_the_sensitive_set_is_refused(key: str, evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, key)
    assert Classification.load().lookup(service, operation, names).cls == "sensitive"
    with pytest.raises(PolicyDenied, match="WARDEN_AWS_ALLOW_SENSITIVE"):
        policy().decide(service, operation, {}, names)


@pytest.mark.parametrize("key", sorted(CONDITIONAL))
def test_reads_that_reveal_secrets_with_some_arguments(key: str, evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, key)
    plain, revealing = CONDITIONAL[key]
    assert policy().decide(service, operation, plain, names).cls == "read"
    with pytest.raises(PolicyDenied, match="reveals secrets"):
        policy().decide(service, operation, revealing, names)


def test_an_operator_can_allow_one_sensitive_operation_and_it_is_unmasked(
    evidence: dict[str, dict[str, Evidence]],
) -> None:
    service, operation, names = operations(evidence, "ssm:GetParameter")
    decision = policy(allow=("ssm:GetParameter",)).decide(service, operation, {"WithDecryption": True}, names)
    assert decision.unmask
    other = operations(evidence, "secretsmanager:GetSecretValue")
    with pytest.raises(PolicyDenied):
        policy(allow=("ssm:GetParameter",)).decide(other[0], other[1], {}, other[2])


def test_writes_are_refused_and_unknown_means_refused(evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, "ec2:TerminateInstances")
    with pytest.raises(PolicyDenied, match="not a read"):
        policy().decide(service, operation, {}, names)
    # An operation botocore knows but the review did not (a newer botocore): unknown, refused.
    with pytest.raises(PolicyDenied, match="not in the reviewed classification"):
        policy().decide("ec2", "DescribeShinyNewThing", {}, [*names, "DescribeShinyNewThing"])
    # A service the review never saw.
    with pytest.raises(PolicyDenied, match="not in the reviewed classification"):
        policy().decide("brand-new-service", "ListThings", {}, ["ListThings"])
    # The service allowlist comes first.
    with pytest.raises(PolicyDenied, match="WARDEN_AWS_SERVICES"):
        policy(services=("ec2",)).decide("s3", "ListBuckets", {}, list(evidence["s3"]))


def test_curated_operations_are_only_for_curated_tools(evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, "logs:StartQuery")
    with pytest.raises(PolicyDenied, match="not a read"):
        policy().decide(service, operation, {}, names)
    assert policy().decide(service, operation, {}, names, curated=True).cls == "curated"


@pytest.mark.parametrize("key", DRY_RUNS)
def test_dry_runs_that_change_nothing_are_reads(key: str, evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, key)
    found = Classification.load().lookup(service, operation, names)
    assert found.cls == "read" and found.reason.startswith("dry run: ")
    assert policy().decide(service, operation, {}, names).cls == "read"


@pytest.mark.parametrize(
    "key",
    [
        "apigateway:TestInvokeMethod",  # calls the integration behind the method
        "stepfunctions:TestState",  # runs a state, with its task
        "glue:TestConnection",  # connects to a data store
        "elasticache:TestFailover",  # fails a cluster over
        "codecommit:TestRepositoryTriggers",  # sends test notifications
        "endusermessaging:ValidateNotifyCodeVerification",  # consumes a verification code
        "sdb:Select",  # returns stored items
    ],
)
def test_a_dry_run_verb_alone_never_makes_a_read(key: str, evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, key)
    assert evidence[service][operation].verb in DRY_RUN_VERBS
    assert Classification.load().lookup(service, operation, names).cls == "write"
    with pytest.raises(PolicyDenied, match="not a read"):
        policy().decide(service, operation, {}, names)


@pytest.mark.parametrize("key", READS_WITH_SECRET_LOOKING_NAMES)
def test_reads_whose_answers_only_look_secret_stay_reads(key: str, evidence: dict[str, dict[str, Evidence]]) -> None:
    service, operation, names = operations(evidence, key)
    assert Classification.load().lookup(service, operation, names).cls == "read"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("SecretAccessKey", True),
        ("SessionToken", True),
        ("AuthToken", True),
        ("PreCoPassword", True),
        ("authKey", True),
        ("ClientSecret", True),
        ("PreSharedKey", True),
        ("HECToken", True),
        ("APIKey", True),
        ("passphrase", True),
        ("ClientAuthToken", True),  # the word before Token decides, not any word
        ("NextToken", False),
        ("nextMessageToken", False),
        ("nextForwardToken", False),
        ("NextContinuationToken", False),
        ("PaginationToken", False),
        ("ClientRequestToken", False),
        ("LockToken", False),
        ("HttpTokens", False),
        ("Marker", False),
        ("SecretArn", False),
        ("PasswordLastUsed", False),
        ("TokenType", False),
        ("KmsKeyId", False),
        ("AccessKeyId", False),
        ("Key", False),
        ("PublicKey", False),
        ("publicKeyMaterial", False),
    ],
)
def test_secret_names_by_how_they_end(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def _model(operation: str, output: dict[str, Any], **shapes: dict[str, Any]) -> dict[str, Any]:
    """A service model with one read operation (GET, paginated by nothing) answering `output`."""
    return {
        "metadata": {"protocol": "rest-json"},
        "operations": {
            operation: {
                "name": operation,
                "http": {"method": "GET", "requestUri": "/"},
                "output": {"shape": "Out"},
                "documentation": "<p>Returns the thing.</p>",
            }
        },
        "shapes": {
            "Out": {"type": "structure", "members": output},
            "String": {"type": "string"},
            **shapes,
        },
    }


def _one(model: dict[str, Any], not_secret: tuple[str, ...] = ()) -> Evidence:
    (ev,) = service_evidence("demo", model, not_secret=not_secret)
    return ev


def test_a_secret_deep_in_lists_and_maps_makes_a_read_sensitive() -> None:
    model = _model(
        "DescribeThings",
        {"Things": {"shape": "Things"}, "NextToken": {"shape": "String"}},
        Things={"type": "list", "member": {"shape": "Thing"}},
        Thing={"type": "structure", "members": {"Name": {"shape": "String"}, "Peers": {"shape": "Peers"}}},
        Peers={"type": "map", "key": {"shape": "String"}, "value": {"shape": "Peer"}},
        Peer={
            "type": "structure",
            "members": {
                "authKey": {"shape": "String"},
                "Token": {"shape": "Mode"},  # an enum: a setting, whatever its name
                "SecretArn": {"shape": "String"},
                "Self": {"shape": "Thing"},  # recursive shapes end the walk, they do not loop it
            },
        },
        Mode={"type": "string", "enum": ["SessionToken", "None"]},
    )
    ev = _one(model)
    assert ev.secret_output == (".Things[].Peers{}.authKey",)
    assert ev.credential_output == ()  # nothing here is marked sensitive
    proposal = propose(ev)
    assert proposal.cls == "sensitive" and proposal.reasons == ("secret-output", ".Things[].Peers{}.authKey")
    # A reviewed exception, named by shape and member, leaves the read a read.
    assert propose(_one(model, not_secret=("demo:Peer.authKey",))).cls == "read"
    with pytest.raises(ValueError, match="names no member"):
        _one(model, not_secret=("demo:Peer.nope",))


def test_a_member_holding_the_arn_of_a_secret_is_not_the_secret() -> None:
    model = _model(
        "GetThing",
        {
            "ServiceAccountSecret": {"shape": "SecretArn"},
            "CdnSecret": {"shape": "String", "documentation": "<p>The ARN of the secret.</p>"},
        },
        SecretArn={"type": "string", "pattern": "^arn:[^:]+:secretsmanager:.*$"},
    )
    assert _one(model).secret_output == () and propose(_one(model)).cls == "read"


@pytest.mark.parametrize(
    ("operation", "member", "doc", "presigned"),
    [
        ("GetReportUrl", "preSignedUrl", "", True),  # the member's name
        ("GetArtifact", "artifactUrl", "<p>The presigned URL for the artifact.</p>", True),  # its documentation
        ("GetExport", "DownloadUrl", "<p>The URL, valid for 5 minutes.</p>", True),
        ("GetPortalLoginUrl", "authCodeUrl", "", True),  # the operation is named for a login URL
        ("GetSignedInsightsUrl", "url", "", True),
        ("GetQueueUrl", "QueueUrl", "<p>The URL of the queue.</p>", False),
        ("DescribeWorkspaceAuthentication", "metadataUrl", "", False),  # not named for a URL
    ],
)
def test_presigned_and_one_time_urls(operation: str, member: str, doc: str, presigned: bool) -> None:
    ev = _one(_model(operation, {member: {"shape": "String", "documentation": doc}}))
    assert bool(ev.presigned_output) is presigned
    assert propose(ev).cls == ("sensitive" if presigned else "read")


def test_the_name_rule_never_turns_a_write_into_an_allowable_sensitive_operation() -> None:
    # WARDEN_AWS_ALLOW_SENSITIVE lets an operator allow a sensitive operation: a write whose answer holds an
    # unmarked secret stays a write, so allowing sensitive operations can never allow it.
    model = _model("CreateThing", {"AuthToken": {"shape": "String"}})
    model["operations"]["CreateThing"]["http"]["method"] = "POST"
    model["operations"]["CreateThing"]["documentation"] = "<p>Creates a thing.</p>"
    ev = _one(model)
    assert ev.secret_output == (".AuthToken",) and propose(ev).cls == "write"
