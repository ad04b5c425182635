"""Who did what and what is wrong: CloudTrail events, Security Hub and GuardDuty findings, alarm history, cost
forecast and anomalies. Each returns reviewed fields only, under the same policy as aws_call."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from tests.aws.conftest import ACCOUNT, REGION, call, data, default_server, make_server, record_requests, text_of
from warden_core import WardenServer

pytestmark = pytest.mark.anyio

OTHER_ACCOUNT = "999999999999"
SECRET = "CANARY-PRESHARED-KEY-7f3a9c"
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def stub(server: WardenServer, service: str) -> Stubber:
    stubber = Stubber(server.aws.client(service, REGION))  # type: ignore[attr-defined]
    stubber.activate()
    return stubber


# --- Security Hub (moto) --------------------------------------------------------------------------------------------
def hub_finding(finding_id: str, account: str, title: str, severity: str) -> dict[str, Any]:
    """A Security Hub finding (ASFF) whose resource details carry a secret, as a VPN connection's do."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "ProductName": "Security Hub",
        "GeneratorId": "aws-foundational-security-best-practices/v/1.0.0/EC2.19",
        "AwsAccountId": account,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2026-11-19T08:00:00Z",
        "UpdatedAt": "2026-11-20T08:00:00Z",
        "Severity": {"Label": severity, "Normalized": 70},
        "Title": title,
        "Description": "A VPN tunnel uses a weak configuration.\u200b",
        "Remediation": {"Recommendation": {"Text": "Rotate the tunnel options.", "Url": "https://docs.aws/ec2-19"}},
        "ProductFields": {"aws/securityhub/annotation": f"psk={SECRET}"},
        "UserDefinedFields": {"note": SECRET},
        "Resources": [
            {
                "Type": "AwsEc2VpnConnection",
                "Id": f"arn:aws:ec2:{REGION}:{account}:vpn-connection/vpn-0abc",
                "Details": {
                    "AwsEc2VpnConnection": {
                        "VpnConnectionId": "vpn-0abc",
                        "Options": {"TunnelOptions": [{"OutsideIpAddress": "203.0.113.7", "PreSharedKey": SECRET}]},
                    }
                },
            }
        ],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }


@pytest.fixture
def hub(moto: None) -> Iterator[None]:
    import boto3

    client = boto3.client("securityhub", region_name=REGION)
    client.batch_import_findings(
        Findings=[
            hub_finding("finding-ours", ACCOUNT, "VPN tunnel with weak options", "HIGH"),
            hub_finding("finding-theirs", OTHER_ACCOUNT, "A member account's finding", "CRITICAL"),
        ]
    )
    yield


async def test_security_hub_findings_are_a_reviewed_subset(hub: None) -> None:
    server = make_server(accounts=(ACCOUNT,))
    sent: list[dict[str, Any]] = []
    hub_client = server.aws.client("securityhub", REGION)  # type: ignore[attr-defined]
    hub_client.meta.events.register("before-call.securityhub.GetFindings", lambda params, **_: sent.append(params))
    result = await call(server, "aws_security_findings", {"severity": "HIGH"})
    answer = data(result)
    (finding,) = answer["findings"]  # the member account's finding is left out, and not counted
    assert finding == {
        "id": "finding-ours",
        "title": "VPN tunnel with weak options",
        "severity": "HIGH",
        "type": "Software and Configuration Checks/Industry and Regulatory Standards",
        "product": "Security Hub",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [f"AwsEc2VpnConnection arn:aws:ec2:{REGION}:{ACCOUNT}:vpn-connection/vpn-0abc"],
        "status": "NEW",
        "updated_at": "2026-11-20T08:00:00Z",
        "description": "A VPN tunnel uses a weak configuration.",
        "remediation": "Rotate the tunnel options. https://docs.aws/ec2-19",
    }
    wire = json.dumps(result.structured_content) + text_of(result)
    assert SECRET not in wire and "203.0.113.7" not in wire and OTHER_ACCOUNT not in wire
    body = json.loads(sent[0]["body"])
    assert body["Filters"]["AwsAccountId"] == [{"Value": ACCOUNT, "Comparison": "EQUALS"}]
    assert [f["Value"] for f in body["Filters"]["SeverityLabel"]] == ["HIGH", "CRITICAL"]


async def test_a_page_of_findings_cut_by_the_output_cap_resumes_where_it_stopped(moto: None) -> None:
    import boto3

    ids = [f"finding-{index}" for index in range(6)]
    boto3.client("securityhub", region_name=REGION).batch_import_findings(
        Findings=[hub_finding(finding_id, ACCOUNT, f"Weak tunnel {finding_id}", "HIGH") for finding_id in ids]
    )
    server = make_server(max_output_bytes=3000)
    seen: list[str] = []
    arguments: dict[str, Any] = {}
    pages = 0
    while pages < 10:
        pages += 1
        answer = data(await call(server, "aws_security_findings", arguments))
        seen += [finding["id"] for finding in answer["findings"]]
        if "next_cursor" not in answer:
            break
        assert answer["truncated"] is True
        arguments = {"cursor": answer["next_cursor"]}
    assert sorted(seen) == ids and len(seen) == 6
    assert pages > 2, "the cap cut the page, and the cursor resumed inside it"


async def test_the_raw_operation_stays_refused_in_aws_call(hub: None) -> None:
    server = make_server()
    log = record_requests(server)
    refused = await call(server, "aws_call", {"service": "securityhub", "operation": "GetFindings"})
    assert refused.is_error and "securityhub:GetFindings is sensitive" in text_of(refused)
    assert "WARDEN_AWS_ALLOW_SENSITIVE" in text_of(refused)
    assert log.operations("securityhub") == []


async def test_findings_refuse_a_region_outside_the_policy_before_any_request(hub: None) -> None:
    server = make_server(regions=("eu-*",))
    log = record_requests(server)
    refused = await call(server, "aws_security_findings", {"region": "us-east-1"})
    assert refused.is_error and "WARDEN_AWS_REGIONS" in text_of(refused)
    assert log.sent == []


# --- GuardDuty (Stubber: moto lists detectors but not findings) -------------------------------------------------
def duty_finding(finding_id: str, account: str, severity: float) -> dict[str, Any]:
    return {
        "AccountId": account,
        "Arn": f"arn:aws:guardduty:{REGION}:{account}:detector/d1/finding/{finding_id}",
        "CreatedAt": "2026-11-20T07:00:00Z",
        "Id": finding_id,
        "Partition": "aws",
        "Region": REGION,
        "Resource": {
            "ResourceType": "AccessKey",
            "AccessKeyDetails": {
                "AccessKeyId": "AKIACANARYGUARDDUTY0",
                "UserName": "deploy-bot",
                "UserType": "IAMUser",
            },
        },
        "SchemaVersion": "2.0",
        "Service": {
            "ServiceName": "guardduty",
            "Count": 12,
            "Archived": False,
            "Action": {"AwsApiCallAction": {"Api": "ListBuckets", "RemoteIpDetails": {"IpAddressV4": "198.51.100.9"}}},
        },
        "Severity": severity,
        "Title": "API ListBuckets was invoked from a known malicious IP address.",
        "Type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "UpdatedAt": "2026-11-20T08:00:00Z",
        "Description": f"Secret in the description: {SECRET}",
    }


async def test_guardduty_findings_keep_the_resource_name_and_never_its_keys(moto: None) -> None:
    """moto answers the account check (STS); GuardDuty's answers are stubbed."""
    server = make_server(accounts=(ACCOUNT,))
    stubber = stub(server, "guardduty")
    stubber.add_response("list_detectors", {"DetectorIds": ["d1"]}, {})
    stubber.add_response(
        "list_findings",
        {"FindingIds": ["f-2", "f-1", "f-other"], "NextToken": "page-2"},
        {
            "DetectorId": "d1",
            "FindingCriteria": {
                "Criterion": {"service.archived": {"Equals": ["false"]}, "severity": {"GreaterThanOrEqual": 7}}
            },
            "SortCriteria": {"AttributeName": "updatedAt", "OrderBy": "DESC"},
            "MaxResults": 20,
        },
    )
    stubber.add_response(
        "get_findings",
        {
            "Findings": [
                duty_finding("f-1", ACCOUNT, 5.0),
                duty_finding("f-other", OTHER_ACCOUNT, 8.0),
                duty_finding("f-2", ACCOUNT, 8.5),
            ]
        },
        {"DetectorId": "d1", "FindingIds": ["f-2", "f-1", "f-other"]},
    )
    result = await call(server, "aws_security_findings", {"source": "guardduty", "severity": "HIGH"})
    answer = data(result)
    stubber.assert_no_pending_responses()
    assert [(f["id"], f["severity"]) for f in answer["findings"]] == [("f-2", "HIGH"), ("f-1", "MEDIUM")]
    first = answer["findings"][0]
    assert first["resources"] == ["AccessKey deploy-bot"] and first["count"] == 12 and first["status"] == "ACTIVE"
    wire = json.dumps(result.structured_content)
    assert "AKIACANARYGUARDDUTY0" not in wire and "198.51.100.9" not in wire and OTHER_ACCOUNT not in wire
    assert answer["next_cursor"], "GuardDuty's page token continues"


async def test_guardduty_off_in_a_region_is_a_clear_error() -> None:
    server = make_server()
    stubber = stub(server, "guardduty")
    stubber.add_response("list_detectors", {"DetectorIds": []}, {})
    refused = await call(server, "aws_security_findings", {"source": "guardduty"})
    assert refused.is_error and f"GuardDuty is not enabled in {REGION}" in text_of(refused)


# --- CloudTrail (Stubber: moto has no LookupEvents) -----------------------------------------------------------------
def trail_event(name: str, user: str, resource: str, *, error: str | None = None) -> dict[str, Any]:
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/{user}"},
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"bucketName": resource, "x-amz-server-side-encryption-customer-key": SECRET},
        "responseElements": {"credentials": {"sessionToken": SECRET}},
    }
    if error:
        detail |= {"errorCode": error, "errorMessage": "Access Denied"}
    return {
        "EventId": f"id-{name}-{user}",
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": NOW,
        "EventSource": "s3.amazonaws.com",
        "Username": user,
        "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": resource}],
        "CloudTrailEvent": json.dumps(detail),
    }


async def test_cloudtrail_events_by_resource_and_principal() -> None:
    server = make_server()
    stubber = stub(server, "cloudtrail")
    stubber.add_response(
        "lookup_events",
        {
            "Events": [
                trail_event("DeleteBucketPolicy", "alice", "acme-logs", error="AccessDenied"),
                trail_event("PutBucketPolicy", "bob", "acme-logs"),
            ],
            "NextToken": "trail-2",
        },
        {
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "acme-logs"}],
            "StartTime": ANY,
            "EndTime": ANY,
            "MaxResults": 50,
        },
    )
    result = await call(server, "aws_cloudtrail_events", {"resource": "acme-logs", "principal": "alice"})
    answer = data(result)
    stubber.assert_no_pending_responses()
    (event,) = answer["events"]  # bob's event: the second filter applies here
    assert event == {
        "time": NOW.isoformat(),
        "event": "DeleteBucketPolicy",
        "source": "s3.amazonaws.com",
        "principal": "alice",
        "identity": f"AssumedRole arn:aws:sts::{ACCOUNT}:assumed-role/ops/alice",
        "read_only": False,
        "resources": ["AWS::S3::Bucket acme-logs"],
        "source_ip": "192.0.2.10",
        "user_agent": "aws-cli/2.15.0",
        "error": "AccessDenied Access Denied",
    }
    assert SECRET not in json.dumps(result.structured_content), "request and response elements are never forwarded"
    assert answer["next_cursor"]


async def test_cloudtrail_window_and_policy_refusals_send_nothing() -> None:
    server = make_server(accounts=(ACCOUNT,), regions=("us-*",))
    log = record_requests(server)
    backwards = await call(server, "aws_cloudtrail_events", {"since_hours": 2, "until_hours": 5})
    other_region = await call(server, "aws_cloudtrail_events", {"region": "eu-west-1"})
    other_account = await call(
        server, "aws_cloudtrail_events", {"resource": f"arn:aws:iam::{OTHER_ACCOUNT}:role/admin"}
    )
    assert "since_hours must be larger" in text_of(backwards)
    assert "WARDEN_AWS_REGIONS" in text_of(other_region)
    assert "WARDEN_AWS_ACCOUNTS" in text_of(other_account) and "nothing was sent" in text_of(other_account)
    assert log.sent == []


# --- CloudWatch alarm history, cost forecast and anomalies (Stubber) ------------------------------------------------
async def test_alarm_history_reads_state_changes() -> None:
    server = make_server()
    stubber = stub(server, "cloudwatch")
    change = {"oldState": {"stateValue": "OK"}, "newState": {"stateValue": "ALARM", "stateReason": "Threshold"}}
    stubber.add_response(
        "describe_alarm_history",
        {
            "AlarmHistoryItems": [
                {
                    "AlarmName": "api-5xx",
                    "AlarmType": "MetricAlarm",
                    "Timestamp": NOW,
                    "HistoryItemType": "StateUpdate",
                    "HistorySummary": "Alarm updated from OK to ALARM\u202e",
                    "HistoryData": json.dumps(change),
                }
            ]
        },
        {
            "AlarmName": "api-5xx",
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "ScanBy": "TimestampDescending",
            "MaxRecords": 50,
        },
    )
    answer = data(await call(server, "aws_cloudwatch_alarms", {"history_of": "api-5xx"}))
    stubber.assert_no_pending_responses()
    assert answer["history"] == [
        {
            "time": NOW.isoformat(),
            "alarm": "api-5xx",
            "kind": "StateUpdate",
            "old_state": "OK",
            "new_state": "ALARM",
            "summary": "Alarm updated from OK to ALARM",
        }
    ]
    assert "alarms" not in answer and "next_cursor" not in answer


async def test_cost_forecast() -> None:
    server = make_server()
    stubber = stub(server, "ce")
    today = dt.datetime.now(dt.UTC).date()
    end = today + dt.timedelta(days=10)
    stubber.add_response(
        "get_cost_forecast",
        {
            "Total": {"Amount": "812.3456", "Unit": "USD"},
            "ForecastResultsByTime": [
                {
                    "TimePeriod": {"Start": today.isoformat(), "End": end.isoformat()},
                    "MeanValue": "812.3456",
                    "PredictionIntervalLowerBound": "700.1",
                    "PredictionIntervalUpperBound": "950.9",
                }
            ],
        },
        {
            "TimePeriod": {"Start": today.isoformat(), "End": end.isoformat()},
            "Metric": "AMORTIZED_COST",
            "Granularity": "MONTHLY",
            "PredictionIntervalLevel": 80,
        },
    )
    report = data(
        await call(server, "aws_cost", {"report": "forecast", "end": end.isoformat(), "metric": "AmortizedCost"})
    )
    stubber.assert_no_pending_responses()
    assert (report["total"], report["unit"]) == (812.3456, "USD")
    assert report["periods"] == [
        {"start": today.isoformat(), "end": end.isoformat(), "total": 812.3456, "low": 700.1, "high": 950.9}
    ]
    past = await call(server, "aws_cost", {"report": "forecast", "start": "2020-01-01"})
    assert past.is_error and "starts today or later" in text_of(past)


async def test_cost_anomalies_leave_out_accounts_the_policy_does_not_allow(moto: None) -> None:
    server = make_server(accounts=(ACCOUNT,))
    stubber = stub(server, "ce")

    def anomaly(anomaly_id: str, account: str, impact: float) -> dict[str, Any]:
        return {
            "AnomalyId": anomaly_id,
            "AnomalyStartDate": "2026-11-10",
            "AnomalyEndDate": "2026-11-12",
            "DimensionValue": "Amazon Elastic Compute Cloud - Compute",
            "RootCauses": [
                {
                    "Service": "Amazon EC2",
                    "Region": REGION,
                    "LinkedAccount": account,
                    "UsageType": "BoxUsage:p5.48xlarge",
                }
            ],
            "AnomalyScore": {"MaxScore": 0.93, "CurrentScore": 0.8},
            "Impact": {
                "MaxImpact": impact,
                "TotalImpact": impact,
                "TotalActualSpend": impact + 10,
                "TotalExpectedSpend": 10.0,
            },
            "MonitorArn": f"arn:aws:ce::{ACCOUNT}:anomalymonitor/m1",
        }

    stubber.add_response(
        "get_anomalies",
        {"Anomalies": [anomaly("a-1", ACCOUNT, 420.0), anomaly("a-2", OTHER_ACCOUNT, 9000.0)]},
        {"DateInterval": {"StartDate": "2026-11-01", "EndDate": "2026-11-20"}, "MaxResults": 50},
    )
    result = await call(server, "aws_cost", {"report": "anomalies", "start": "2026-11-01", "end": "2026-11-20"})
    report = data(result)
    stubber.assert_no_pending_responses()
    (only,) = report["anomalies"]
    assert (only["impact"], only["actual"], only["expected"], only["score"]) == (420.0, 430.0, 10.0, 0.93)
    assert only["causes"] == [f"Amazon EC2 / {REGION} / BoxUsage:p5.48xlarge / {ACCOUNT}"]
    assert OTHER_ACCOUNT not in json.dumps(result.structured_content) and "9000" not in text_of(result)


async def test_the_new_reads_are_in_the_default_surface_and_their_services_allowed() -> None:
    server = default_server()
    names = {spec.name for spec in server.exposed}
    assert {"aws_cloudtrail_events", "aws_security_findings", "aws_cost"} <= names
    assert {"cloudtrail", "securityhub", "guardduty"} <= set(server.settings.services)


async def test_cost_periods_cut_by_the_output_cap_continue_with_a_cursor() -> None:
    """A daily report over weeks is larger than one result: the periods continue; the totals cover the range."""
    from botocore.awsrequest import AWSResponse

    server = make_server(max_output_bytes=5000)
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(20)]
    results = [
        {
            "TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
            "Groups": [
                {"Keys": [name], "Metrics": {"UnblendedCost": {"Amount": str(amount), "Unit": "USD"}}}
                for name, amount in (("Amazon EC2", 10.0), ("Amazon S3", 2.0), ("AWS Lambda", 0.5))
            ],
            "Estimated": False,
        }
        for day in days
    ]
    asked: list[str] = []

    def answer(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        asked.append(model.name)
        return AWSResponse("https://stubbed", 200, {}, None), {"ResultsByTime": results}

    client = server.aws.client("ce", REGION)  # type: ignore[attr-defined]
    client.meta.events.register_first("before-call.cost-explorer", answer)
    arguments: dict[str, Any] = {"start": "2026-10-01", "end": "2026-10-21", "granularity": "DAILY"}
    starts: list[str] = []
    for _ in range(30):
        report = data(await call(server, "aws_cost", arguments))
        assert report["total"] == pytest.approx(250.0), "every page carries the whole range's totals"
        starts += [period["start"] for period in report["periods"]]
        if "next_cursor" not in report:
            break
        assert report["truncated"] is True
        arguments = {**arguments, "cursor": report["next_cursor"]}
    assert starts == [day.isoformat() for day in days]
    assert len(asked) > 2, "each continuation asks Cost Explorer again"
