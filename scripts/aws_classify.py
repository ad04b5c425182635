"""Derive warden-aws's operation classification from botocore's service models, and review it.

    uv run python scripts/aws_classify.py            write servers/aws/src/warden_aws/data/classification.json
    uv run python scripts/aws_classify.py --check    exit 1 if the committed file differs from what this derives
    uv run python scripts/aws_classify.py --review   print the decisions a reviewer should look at
    uv run python scripts/aws_classify.py --explain ssm:GetParameter

How an operation is classified (see warden_aws/evidence.py for the evidence itself):
1. The evidence proposes a class: `read` only when the HTTP binding, the input (no idempotency token, no
   upload), the output, the documentation and the name or its paginator/waiter all agree; `sensitive`
   when a read returns credentials or secrets (sensitive-marked members named like a credential),
   data-plane content (a streaming output) or a presigned URL; otherwise `write`.
2. The reviewed tables below settle what the evidence cannot: more `sensitive` operations, conditions
   and extra masked members (stricter), a few `NOT_READ` demotions (stricter), and `READ` promotions
   only where the documentation opens with a misleading verb while the name and the structure say read.
   Every read is justified by the evidence or by a recorded review reason, and the tests check that.
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

from warden_aws.evidence import READ_VERBS, Evidence, all_evidence, propose, structurally_read  # noqa: E402

OUTPUT = ROOT / "servers" / "aws" / "src" / "warden_aws" / "data" / "classification.json"

# --- Reviewed decisions. ----------------------------------------------------------------------------------
# Reads that the evidence accepts but that hand over something a read-only agent should not get by default.
# Each reason starts with its category: credentials, secret, content (data-plane), presigned-url.
SENSITIVE: dict[str, str] = {
    # Credential minting the model does not mark as sensitive.
    "ecr:GetAuthorizationToken": "credentials: a registry password (not marked sensitive in the model)",
    "ecr-public:GetAuthorizationToken": "credentials: a registry password (not marked sensitive in the model)",
    "codeartifact:GetAuthorizationToken": "credentials: a repository token (documentation says 'Generates')",
    "kinesis-video-signaling:GetIceServerConfig": "credentials: TURN server username and password",
    "lakeformation:GetTemporaryGlueFunctionCredentials": "credentials: temporary credentials",
    "lakeformation:GetTemporaryGlueTableCredentials": "credentials: temporary credentials",
    "lakeformation:GetTemporaryDataLocationCredentials": "credentials: temporary credentials",
    "iot:GetRegistrationCode": "credentials: a CA registration code",
    "stepfunctions:GetActivityTask": "credentials: claims a task and returns its task token",
    # Secrets inside a list (deeper than the evidence's depth rule reaches).
    "secretsmanager:BatchGetSecretValue": "secret: secret values, one per listed secret",
    "ssm:GetAccessToken": "credentials: temporary credentials for just-in-time node access",
    # Presigned URLs the documentation does not call presigned.
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
    "cognito-idp:ListWebAuthnCredentials": "documentation says it generates a registration challenge",
    "waf:GetChangeToken": "issues a change token for a following write",
    "waf-regional:GetChangeToken": "issues a change token for a following write",
    "kinesis:GetShardIterator": "issues an iterator whose only use is reading stream records",
}


def digest(names: list[str]) -> str:
    return hashlib.sha256(" ".join(sorted(names)).encode()).hexdigest()[:16]


def classify(evidence: dict[str, list[Evidence]]) -> dict[str, Any]:
    """The reviewed classification of every operation, as the committed data."""
    import botocore

    known = {ev.key for evs in evidence.values() for ev in evs}
    for table in (SENSITIVE, CONDITIONS, NOT_READ, READ):
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
            proposal = propose(ev)
            cls = proposal.cls
            reason = " ".join(proposal.reasons)
            if ev.key in SENSITIVE:
                cls, reason = "sensitive", "reviewed " + SENSITIVE[ev.key]
            elif cls == "read" and ev.key in NOT_READ:
                cls = "write"
            elif cls == "write" and ev.key in READ:
                if ev.verb not in READ_VERBS or not structurally_read(ev):
                    raise SystemExit(f"{ev.key} cannot be reviewed as a read: its name or structure says otherwise")
                cls = "read"
                reviewed[ev.operation] = READ[ev.key]
            if cls == "read":
                reads.append(ev.operation)
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
        for ev in all_evidence([service])[service]:
            if ev.operation == operation:
                print(json.dumps({"evidence": ev.as_dict(), "proposal": propose(ev).__dict__}, indent=2))
                return 0
        print(f"{args.explain}: no such operation", file=sys.stderr)
        return 1
    evidence = all_evidence()
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
