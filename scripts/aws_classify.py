"""Derive warden-aws's operation classification from botocore's service models, and review it.

    uv run python scripts/aws_classify.py            write servers/aws/src/warden_aws/data/classification.json
    uv run python scripts/aws_classify.py --check    exit 1 if the committed file differs from what this derives
    uv run python scripts/aws_classify.py --review   print the decisions a reviewer should look at
    uv run python scripts/aws_classify.py --explain ssm:GetParameter

How an operation is classified (see warden_aws/evidence.py for the evidence itself):
1. The evidence proposes a class: `read` only when the HTTP binding, the input (no idempotency token, no
   upload), the output, the documentation and the name or its paginator/waiter all agree; `sensitive`
   when a read returns, anywhere in its answer, a member whose name says it holds a secret (marked
   `sensitive` by botocore or not: `SecretAccessKey`, `SessionToken`, `*Password`, `*Token` other than
   page, idempotency and version tokens, `authKey`, `ClientSecret`, ...), data-plane content (a
   streaming output) or a presigned or one-time URL; otherwise `write`.
2. The reviewed tables below settle what names cannot tell: more `sensitive` operations, conditions and
   extra masked members (stricter); `NOT_SECRET` members whose names say secret though the value is not
   one (each with its evidence); a few `NOT_READ` demotions (stricter); `READ` promotions only where the
   documentation opens with a misleading verb while the name and the structure say read; and `DRY_RUNS`,
   operations named Validate, Simulate, Test or Select that a reviewer read and found to change nothing.
   Every read is justified by the evidence or by a recorded review reason, and the tests check that. A
   reviewed entry that changes nothing (the evidence already says so) stops the generator: drop it.
3. Anything not in the committed data (a service or operation newer than the review) is refused.

Run it after upgrading botocore, read the `--review` output and the diff, then commit the data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "servers" / "aws" / "src"))

from warden_aws.evidence import (  # noqa: E402
    DRY_RUN_VERBS,
    READ_VERBS,
    Evidence,
    all_evidence,
    looks_read,
    propose,
    structurally_read,
)

OUTPUT = ROOT / "servers" / "aws" / "src" / "warden_aws" / "data" / "classification.json"

# --- Reviewed decisions. ----------------------------------------------------------------------------------
# Reads that the evidence accepts but that hand over something a read-only agent should not get by default,
# where the names in the model cannot tell. Each reason starts with its category: credentials, secret,
# content (data-plane), presigned-url.
SENSITIVE: dict[str, str] = {
    # Credential minting that is not a read by its documentation, or whose names do not say credential.
    "codeartifact:GetAuthorizationToken": "credentials: a repository token (documentation says 'Generates')",
    "iot:GetRegistrationCode": "credentials: a CA registration code",
    "iotwireless:GetWirelessDevice": "secret: LoRaWAN root and session keys (AppKey, NwkKey, AppSKey, ...)",
    "pinpoint:GetGcmChannel": "secret: Credential is the Firebase server key",
    "pinpoint:GetBaiduChannel": "secret: Credential is the Baidu Cloud Push API key",
    # Secrets inside a value whose name says nothing.
    "cognito-idp:DescribeIdentityProvider": "secret: ProviderDetails holds the IdP's client_secret",
    "cognito-idp:GetIdentityProviderByIdentifier": "secret: ProviderDetails holds the IdP's client_secret",
    "appsync:ListApiKeys": "secret: an API key's id is the key itself",
    # Presigned URLs neither the names nor the documentation call presigned.
    "lambda:GetFunction": "presigned-url: Code.Location downloads the deployment package",
    "lambda:GetLayerVersion": "presigned-url: Content.Location downloads the layer",
    "lambda:GetLayerVersionByArn": "presigned-url: Content.Location downloads the layer",
    "kinesis-video-archived-media:GetDASHStreamingSessionURL": "presigned-url: a streaming session URL",
    "kinesis-video-archived-media:GetHLSStreamingSessionURL": "presigned-url: a streaming session URL",
    "auditmanager:GetEvidenceFileUploadUrl": "presigned-url: an upload URL",
    "security-ir:GetCaseAttachmentUploadUrl": "presigned-url: an upload URL",
    "quicksight:GetDashboardEmbedUrl": "presigned-url: an authenticated embed URL",
    "quicksight:GetSessionEmbedUrl": "presigned-url: an authenticated embed URL",
    # Data-plane content: what is stored, rather than what is deployed.
    "dynamodb:GetItem": "content: table items",
    "dynamodb:BatchGetItem": "content: table items",
    "dynamodb:Query": "content: table items",
    "dynamodb:Scan": "content: table items",
    "dynamodb:ExecuteStatement": "content: table items (PartiQL)",
    "dynamodb:BatchExecuteStatement": "content: table items (PartiQL)",
    "kinesis:GetRecords": "content: stream records",
    "athena:GetQueryResults": "content: query result rows",
    "redshift-data:GetStatementResult": "content: query result rows",
    "redshift-data:GetStatementResultV2": "content: query result rows",
    "s3vectors:GetVectors": "content: stored vectors and metadata",
    "s3vectors:QueryVectors": "content: stored vectors and metadata",
    "s3vectors:ListVectors": "content: stored vectors and metadata",
    "bedrock-agent-runtime:Retrieve": "content: knowledge-base documents",
    "bedrock-agentcore:RetrieveMemoryRecords": "content: agent memory records",
    "cloudsearchdomain:Search": "content: indexed documents",
    "cloudsearchdomain:Suggest": "content: indexed documents",
    "appconfigdata:GetLatestConfiguration": "content: application configuration (may hold secrets)",
    "appconfig:GetHostedConfigurationVersion": "content: application configuration (may hold secrets)",
    "appconfig:GetConfiguration": "content: application configuration (may hold secrets)",
    "codecommit:GetBlob": "content: repository files",
    "codecommit:GetFile": "content: repository files",
    "iot-data:GetThingShadow": "content: device state payload",
    "iot-data:GetRetainedMessage": "content: MQTT message payload",
    "ec2:GetConsoleOutput": "content: instance console output (often prints secrets at boot)",
    "ec2:GetConsoleScreenshot": "content: instance console screenshot",
    "sqs:ReceiveMessage": "content: queue messages (and hides them from consumers)",
}

# Reads whose documentation opens with a misleading verb ("Creates a paginated call to list ..."). A reviewer
# read the text; the tests still require a read verb in the name and every structural invariant.
READ: dict[str, str] = {
    "ce:GetRightsizingRecommendation": "documentation: 'Creates recommendations' means computes them for the answer",
    "cloudfront:ListFieldLevelEncryptionProfiles": "documentation: 'Request a list of ...'",
    "config:ListAggregateDiscoveredResources": "documentation: 'Accepts a resource type and returns a list'",
    "lookoutequipment:ListModelVersions": "documentation: 'Generates a list of ...'",
    "lookoutequipment:ListModels": "documentation: 'Generates a list of ...'",
    "quicksight:DescribeTopicRefreshSchedule": "documentation copied from the delete call; GET with no body",
    "sagemaker:ListAutoMLJobs": "documentation: 'Request a list of jobs'",
    "securityhub:GetConnectorV2": "documentation is IAM wording: 'Grants permission to retrieve'",
    "securityhub:ListConnectorsV2": "documentation is IAM wording: 'Grants permission to retrieve'",
    "ssm:ListNodesSummary": "documentation: 'Generates a summary' of node metadata for the answer",
    "supplychain:GetDataIntegrationEvent": "documentation: 'Enables you to programmatically retrieve'",
    "supplychain:GetDataIntegrationFlow": "documentation: 'Enables you to programmatically retrieve'",
    "supplychain:GetDataLakeDataset": "documentation: 'Enables you to programmatically retrieve'",
    "supplychain:GetDataLakeNamespace": "documentation: 'Enables you to programmatically retrieve'",
    "supplychain:GetInstance": "documentation: 'Enables you to programmatically retrieve'",
    "supplychain:ListDataIntegrationEvents": "documentation: 'Enables you to programmatically list'",
    "supplychain:ListDataIntegrationFlows": "documentation: 'Enables you to programmatically list'",
    "supplychain:ListDataLakeDatasets": "documentation: 'Enables you to programmatically list'",
    "supplychain:ListDataLakeNamespaces": "documentation: 'Enables you to programmatically list'",
    "workmail:GetMailboxDetails": "documentation: 'Requests a user's mailbox details'",
    "workmail:ListAliases": "documentation: 'Creates a paginated call to list the aliases'",
}

# Operations named with a dry-run verb (see DRY_RUN_VERBS) that a reviewer read and found to compute their answer
# from the input and this account's own records, changing nothing, calling nothing and returning no stored data.
# The verb alone never makes a read: `apigateway:TestInvokeMethod`, `stepfunctions:TestState`, `glue:TestConnection`
# and `transfer:TestIdentityProvider` call out, `elasticache:TestFailover` fails over, `lightsail:TestAlarm` and
# `codecommit:TestRepositoryTriggers` notify, `endusermessaging:ValidateNotifyCodeVerification` consumes a code,
# `sdb:Select` returns stored items. The tests require a dry-run verb and every structural invariant of a read.
DRY_RUNS: dict[str, str] = {
    "accessanalyzer:ValidatePolicy": "dry run: checks the policy document passed in and returns findings",
    "cloudformation:ValidateTemplate": "dry run: checks a template's syntax and lists its parameters",
    "config:SelectAggregateResourceConfig": "dry run: a SQL query over an aggregator's recorded configuration",
    "config:SelectResourceConfig": "dry run: a SQL query over this account's recorded configuration",
    "events:TestEventPattern": "dry run: matches the event passed in against the pattern passed in",
    "gamelift:ValidateMatchmakingRuleSet": "dry run: checks the syntax of the rule set passed in",
    "iam:SimulateCustomPolicy": "dry run: evaluates the policies passed in against actions and resources",
    "iam:SimulatePrincipalPolicy": "dry run: evaluates a principal's policies against actions and resources",
    "logs:TestMetricFilter": "dry run: matches the log lines passed in against a filter pattern",
    "ses:TestRenderTemplate": "dry run: renders a stored template with the data passed in ('Creates a preview')",
    "sesv2:TestRenderEmailTemplate": "dry run: renders a stored template with the data passed in",
    "stepfunctions:ValidateStateMachineDefinition": "dry run: checks the definition passed in",
}

# Reads that reveal secrets only with some arguments: `Flag` (when true), `!Flag` (unless true),
# `Param=value` (when equal). The evidence finds the boolean flags; these are the ones it cannot.
CONDITIONS: dict[str, str] = {
    "ec2:DescribeInstanceAttribute": "Attribute=userData",
}

# Output members that hold secrets in practice but are not marked sensitive in the model: masked in every
# answer, like the members the model marks. Keyed by service, then shape name.
MASK: dict[str, dict[str, list[str]]] = {
    "autoscaling": {"LaunchConfiguration": ["UserData"]},
    "batch": {
        "ContainerDetail": ["environment"],
        "ContainerProperties": ["environment"],
        "TaskContainerDetails": ["environment"],
        "TaskContainerProperties": ["environment"],
    },
    "codebuild": {"ProjectEnvironment": ["environmentVariables"]},
    "ec2": {"InstanceAttribute": ["UserData"]},
}

# Reads the evidence accepts but a reviewer does not: they change state, or are not what they seem.
NOT_READ: dict[str, str] = {
    "waf:GetChangeToken": "issues a change token for a following write",
    "waf-regional:GetChangeToken": "issues a change token for a following write",
    "kinesis:GetShardIterator": "issues an iterator whose only use is reading stream records",
}


# Output members whose names say secret though their values are not secrets, each with its evidence. Keyed
# `service:Shape.member`; the evidence skips them. Keep this short: when in doubt, the operation stays sensitive.
NOT_SECRET: dict[str, str] = {
    "rds:PendingModifiedValues.MasterUserPassword": "'Amazon RDS API operations never return the password' "
    "(ModifyDBInstance documentation)",
    "rds:ClusterPendingModifiedValues.MasterUserPassword": "the RDS API never returns the password",
    "rds:TenantDatabasePendingModifiedValues.MasterUserPassword": "the RDS API never returns the password",
    "docdb:PendingModifiedValues.MasterUserPassword": "DocumentDB is served by the RDS API, which never returns it",
    "neptune:PendingModifiedValues.MasterUserPassword": "Neptune is served by the RDS API, which never returns it",
    "redshift:PendingModifiedValues.MasterUserPassword": "'Operations never return the password' "
    "(ModifyCluster documentation)",
    "fsx:OntapFileSystemConfiguration.FsxAdminPassword": "'The password value is always redacted in the response'",
    "elbv2:AuthenticateOidcActionConfig.ClientSecret": "write-only: Describe answers omit it, which is why "
    "UseExistingClientSecret exists",
    "apprunner:ImageConfiguration.RuntimeEnvironmentSecrets": "maps variable names to ARNs of secrets or "
    "parameters (the documentation), not to their values",
    "apprunner:CodeConfigurationValues.RuntimeEnvironmentSecrets": "maps variable names to ARNs of secrets or "
    "parameters (the documentation), not to their values",
    "config:EvaluationResult.ResultToken": "ties an evaluation to a rule for PutEvaluations, which needs its own "
    "permission; it grants nothing",
    "codepipeline:ActionExecution.token": "identifies an approval request; approving needs "
    "codepipeline:PutApprovalResult",
    "codepipeline:RuleExecution.token": "identifies a condition's rule execution; acting on it needs its own "
    "permission",
    "devops-guru:LogAnomalyClass.LogAnomalyToken": "a word from the log line where the anomaly was detected",
    "entityresolution:GetPolicyOutput.token": "a revision id of the policy, for optimistic concurrency",
    "ec2:ScheduledInstanceAvailability.PurchaseToken": "identifies an offer; buying needs "
    "ec2:PurchaseScheduledInstances",
    "servicecatalog:DescribePortfolioShareStatusOutput.PortfolioShareToken": "the id of a portfolio share process",
    "bedrock:Offer.offerToken": "identifies a model offer; accepting needs CreateFoundationModelAgreement",
    "sesv2:DkimAttributes.Tokens": "DKIM tokens are published in DNS",
    "pinpoint-email:DkimAttributes.Tokens": "DKIM tokens are published in DNS",
    "securityagent:DnsVerification.token": "a domain verification token, published in DNS",
    "securityagent:HttpVerification.token": "a domain verification token, published over HTTP",
    "iotsitewise:ImageLocation.url": "a presigned URL to the portal's logo image, shown to every portal user",
}


def digest(names: list[str]) -> str:
    return hashlib.sha256(" ".join(sorted(names)).encode()).hexdigest()[:16]


def classify(evidence: dict[str, list[Evidence]]) -> dict[str, Any]:
    """The reviewed classification of every operation, as the committed data."""
    import botocore

    known = {ev.key for evs in evidence.values() for ev in evs}
    for table in (SENSITIVE, CONDITIONS, NOT_READ, READ, DRY_RUNS):
        stale = sorted(set(table) - known)
        if stale:
            raise SystemExit(f"reviewed entries name operations botocore does not have: {stale}")

    services: dict[str, Any] = {}
    counts = {"read": 0, "sensitive": 0, "write": 0}
    for service, evs in sorted(evidence.items()):
        reads: list[str] = []
        sensitive: dict[str, str] = {}
        when: dict[str, str] = {}
        reviewed: dict[str, str] = {}
        for ev in evs:
            promotion = _promotion(ev)
            proposal = propose(ev, reviewed_read=promotion is not None)
            cls = proposal.cls
            reason = " ".join(proposal.reasons)
            if ev.key in SENSITIVE:
                if cls == "sensitive":
                    raise SystemExit(f"{ev.key}: the evidence already says sensitive; drop it from SENSITIVE")
                cls, reason = "sensitive", "reviewed " + SENSITIVE[ev.key]
            elif ev.key in NOT_READ:
                if cls != "read":
                    raise SystemExit(f"{ev.key}: the evidence does not say read; drop it from NOT_READ")
                cls = "write"
            if cls == "read":
                reads.append(ev.operation)
                if promotion is not None:
                    reviewed[ev.operation] = promotion
                condition = CONDITIONS.get(ev.key) or proposal.condition
                if condition:
                    when[ev.operation] = condition
            elif cls == "sensitive":
                sensitive[ev.operation] = reason
            counts[cls] += 1
        entry: dict[str, Any] = {"digest": digest([ev.operation for ev in evs]), "read": reads}
        if sensitive:
            entry["sensitive"] = sensitive
        if when:
            entry["when"] = when
        if reviewed:
            entry["reviewed_read"] = reviewed
        if service in MASK:
            entry["mask"] = MASK[service]
        services[service] = entry
    return {
        "about": "Generated by scripts/aws_classify.py from botocore's service models, then reviewed. "
        "An operation is a read only if listed under read; sensitive ones are refused unless allowed; "
        "every other operation of a service is a write; anything not here is unknown and refused.",
        "botocore": botocore.__version__,
        "counts": {**counts, "services": len(services)},
        "services": services,
    }


def _promotion(ev: Evidence) -> str | None:
    """The recorded reason a reviewer promoted this operation to a read, after checking it may be one."""
    reason, verbs = (READ.get(ev.key), READ_VERBS) if ev.key in READ else (DRY_RUNS.get(ev.key), DRY_RUN_VERBS)
    if reason is None:
        return None
    if ev.verb not in verbs or not structurally_read(ev) or ev.streaming_output:
        raise SystemExit(f"{ev.key} cannot be reviewed as a read: its name or structure says otherwise")
    if looks_read(ev):
        raise SystemExit(f"{ev.key}: the evidence already says read; drop its review")
    return reason


def derive() -> dict[str, list[Evidence]]:
    """The evidence from the installed botocore, with the reviewed NOT_SECRET members left out."""
    return all_evidence(not_secret=NOT_SECRET)


def render(data: dict[str, Any]) -> str:
    """Compact JSON with one line per service entry, so a review diff shows what changed where."""
    lines = ["{"]
    for key in ("about", "botocore", "counts"):
        lines.append(f"{json.dumps(key)}: {json.dumps(data[key], separators=(',', ':'))},")
    lines.append('"services": {')
    items = list(data["services"].items())
    for index, (service, entry) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines.append(f"{json.dumps(service)}: {json.dumps(entry, separators=(',', ':'))}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def review(evidence: dict[str, list[Evidence]]) -> None:
    """What a reviewer should look at: where the evidence disagrees with itself, or a secret may hide."""
    for evs in evidence.values():
        for ev in evs:
            proposal = propose(ev)
            notes = []
            if ev.verb in DRY_RUN_VERBS and structurally_read(ev) and proposal.cls != "read" and ev.key not in DRY_RUNS:
                notes.append("dry-run verb, not reviewed as a read")
            if ev.verb in READ_VERBS and proposal.cls == "write":
                notes.append("read verb, but " + " ".join(proposal.reasons))
            if proposal.cls == "read" and ev.verb not in READ_VERBS:
                notes.append(f"read by documentation ({ev.doc_verb}) and polling, not by name")
            if proposal.condition:
                notes.append(f"reveals secrets when {proposal.condition}")
            if proposal.cls == "sensitive":
                notes.append("sensitive: " + " ".join(proposal.reasons))
            if notes:
                print(f"{ev.key}: {'; '.join(notes)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--review", action="store_true", help="print decisions worth a reviewer's look")
    parser.add_argument("--explain", metavar="SERVICE:OPERATION", help="print the evidence for one operation")
    args = parser.parse_args()
    if args.explain:
        service, _, operation = args.explain.partition(":")
        for ev in all_evidence([service], not_secret=NOT_SECRET)[service]:
            if ev.operation == operation:
                proposal = propose(ev, reviewed_read=_promotion(ev) is not None)
                print(json.dumps({"evidence": ev.as_dict(), "proposal": proposal.__dict__}, indent=2))
                return 0
        print(f"{args.explain}: no such operation", file=sys.stderr)
        return 1
    evidence = derive()
    if args.review:
        review(evidence)
        return 0
    text = render(classify(evidence))
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run scripts/aws_classify.py and review the diff")
            return 1
        print("classification is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    data = json.loads(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text) // 1024} KiB): {data['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
