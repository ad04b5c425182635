"""What is running: EC2 instances, S3 buckets and objects, Lambda functions, as compact summaries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.render import decode_cursor, plain, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor, Region
from warden_core import Access, Budget, InvalidArgument, ToolSpec, strip_invisible, truncate_text
from warden_core.results import Lean, Row

InstanceState = Literal["pending", "running", "shutting-down", "terminated", "stopping", "stopped"]
InstanceId = Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]
States = Annotated[list[InstanceState] | None, Field(description="Only instances in these states.", max_length=6)]
InstanceIds = Annotated[
    list[InstanceId] | None, Field(description="Only these instance ids (i-...).", min_length=1, max_length=100)
]
Tag = Annotated[
    str | None,
    Field(
        description="Only instances with this tag: Key=Value (Value may use * wildcards), or just Key.",
        pattern=r"^[^=]{1,128}(=.{1,256})?$",
    ),
]
Ec2PageSize = Annotated[int, Field(description="Instances per page.", ge=5, le=1000)]
BucketPrefix = Annotated[
    str | None, Field(description="Only buckets whose name starts with this.", pattern=r"^[a-z0-9.-]{1,63}$")
]
BucketName = Annotated[str, Field(description="Bucket name.", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
BucketPageSize = Annotated[int, Field(description="Buckets per page.", ge=1, le=1000)]
KeyPrefix = Annotated[str, Field(description="Only keys starting with this, e.g. logs/2026/.", max_length=1024)]
Recursive = Annotated[bool, Field(description="List every key under the prefix instead of one folder level.")]
KeyPageSize = Annotated[int, Field(description="Keys (and folders) per page.", ge=1, le=1000)]
LambdaPageSize = Annotated[int, Field(description="Functions per page.", ge=1, le=50)]


class Instance(Row):
    id: str
    name: str | None = None
    type: str | None = None
    state: str | None = None
    az: str | None = None
    launched: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    platform: str | None = None
    lifecycle: str | None = Field(None, description="spot or scheduled; null for on-demand.")


class Instances(Lean):
    region: str
    instances: list[Instance]
    truncated: bool = Field(description="True when the output cap cut this page; next_cursor continues.")
    next_cursor: str | None = None


class Bucket(Row):
    name: str
    created: str | None = None
    region: str | None = Field(None, description="Bucket region when AWS reports it.")


class Buckets(Lean):
    buckets: list[Bucket]
    hidden_by_region_policy: int = Field(description="Buckets left out because their region is not allowed.")
    truncated: bool
    next_cursor: str | None = None


class S3Entry(Row):
    key: str
    kind: Literal["object", "folder"]
    size: int | None = None
    last_modified: str | None = None
    storage_class: str | None = None


class S3Listing(Lean):
    bucket: str
    prefix: str
    entries: list[S3Entry]
    truncated: bool
    next_cursor: str | None = None


class Function(Row):
    name: str
    runtime: str | None = None
    handler: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    code_size: int | None = None
    last_modified: str | None = None
    architectures: list[str]
    package_type: str | None = None
    description: str | None = None


class Functions(Lean):
    region: str
    functions: list[Function]
    truncated: bool
    next_cursor: str | None = None


def _short(value: Any, limit: int = 256) -> str | None:
    if value is None or value == "":
        return None
    kept, cut = truncate_text(strip_invisible(str(value)), limit)
    return kept + ("..." if cut else "")


def _instance(raw: dict[str, Any]) -> dict[str, Any]:
    tags = {t.get("Key"): t.get("Value") for t in raw.get("Tags") or []}
    return Instance(
        id=raw["InstanceId"],
        name=_short(tags.get("Name"), 128),
        type=raw.get("InstanceType"),
        state=(raw.get("State") or {}).get("Name"),
        az=(raw.get("Placement") or {}).get("AvailabilityZone"),
        launched=plain(raw.get("LaunchTime")),
        private_ip=raw.get("PrivateIpAddress"),
        public_ip=raw.get("PublicIpAddress"),
        vpc_id=raw.get("VpcId"),
        subnet_id=raw.get("SubnetId"),
        platform=raw.get("PlatformDetails") or raw.get("Platform"),
        lifecycle=raw.get("InstanceLifecycle"),
    ).model_dump()


def _function(raw: dict[str, Any]) -> dict[str, Any]:
    # Environment variables, code locations and layers are never copied into the summary.
    return Function(
        name=strip_invisible(raw["FunctionName"]),
        runtime=raw.get("Runtime"),
        handler=_short(raw.get("Handler"), 128),
        memory_mb=raw.get("MemorySize"),
        timeout_s=raw.get("Timeout"),
        code_size=raw.get("CodeSize"),
        last_modified=plain(raw.get("LastModified")),
        architectures=list(raw.get("Architectures") or []),
        package_type=raw.get("PackageType"),
        description=_short(raw.get("Description"), 200),
    ).model_dump()


def _resume(cursor: str | None, kind: str) -> tuple[int, Any]:
    if not cursor:
        return 0, None
    state = decode_cursor(cursor, kind)
    token = state.get("t")
    if token is not None and not isinstance(token, str):
        raise InvalidArgument("cursor is not valid for this call: pass next_cursor unchanged")
    return int(state["s"]), token


def _budget(settings: Settings) -> Budget:
    return Budget(max(1024, settings.max_output_bytes - 2048))


def _ec2_instances(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def ec2_instances(
        region: Region = None,
        *,
        states: States = None,
        instance_ids: InstanceIds = None,
        tag: Tag = None,
        page_size: Ec2PageSize = 100,
        cursor: Cursor = None,
    ) -> Instances:
        skip, token = _resume(cursor, "ec2_instances")
        params: dict[str, Any] = {}
        filters = []
        if states:
            filters.append({"Name": "instance-state-name", "Values": list(states)})
        if tag:
            key, equals, value = tag.partition("=")
            filters.append(
                {"Name": f"tag:{key}", "Values": [value]} if equals else {"Name": "tag-key", "Values": [key]}
            )
        if filters:
            params["Filters"] = filters
        if instance_ids:
            params["InstanceIds"] = list(instance_ids)  # EC2 refuses MaxResults together with ids
        else:
            params["MaxResults"] = page_size
        if token:
            params["NextToken"] = token
        answer, _, chosen = await aws.call("ec2", "DescribeInstances", params, region, curated=True)
        items = [_instance(i) for r in answer.get("Reservations") or [] for i in r.get("Instances") or []]
        kept, truncated, next_cursor = take_page(
            items,
            kind="ec2_instances",
            limit=page_size,
            budget=_budget(settings),
            skip=skip,
            token=token,
            next_token=answer.get("NextToken"),
        )
        return Instances(
            region=chosen, instances=[Instance(**i) for i in kept], truncated=truncated, next_cursor=next_cursor
        )

    return ToolSpec(
        name="aws_ec2_instances",
        title="EC2 instances",
        description=(
            "List EC2 instances in one region as compact rows: id, Name tag, type, state, zone, launch time, "
            "IPs, VPC and subnet, platform. Filter by states, instance ids or one tag. One page per call; "
            "next_cursor continues."
        ),
        group="inventory",
        access=Access.READ,
        handler=ec2_instances,
        resource_args={"region": "regions"},
    )


def _s3_buckets(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def s3_buckets(
        prefix: BucketPrefix = None,
        region: Region = None,
        page_size: BucketPageSize = 200,
        cursor: Cursor = None,
    ) -> Buckets:
        skip, token = _resume(cursor, "s3_buckets")
        params: dict[str, Any] = {"MaxBuckets": page_size}
        if prefix:
            params["Prefix"] = prefix
        if region:
            params["BucketRegion"] = region
        if token:
            params["ContinuationToken"] = token
        # The bucket list is account-wide; the call itself goes to the default region.
        answer, _, _ = await aws.call("s3", "ListBuckets", params, None, curated=True)
        items, hidden = [], 0
        for raw in answer.get("Buckets") or []:
            bucket_region = raw.get("BucketRegion")
            if bucket_region and not aws.regions.allows(bucket_region):
                hidden += 1
                continue
            items.append(
                Bucket(name=raw["Name"], created=plain(raw.get("CreationDate")), region=bucket_region).model_dump()
            )
        kept, truncated, next_cursor = take_page(
            items,
            kind="s3_buckets",
            limit=page_size,
            budget=_budget(settings),
            skip=skip,
            token=token,
            next_token=answer.get("ContinuationToken"),
        )
        return Buckets(
            buckets=[Bucket(**b) for b in kept],
            hidden_by_region_policy=hidden,
            truncated=truncated,
            next_cursor=next_cursor,
        )

    return ToolSpec(
        name="aws_s3_buckets",
        title="S3 buckets",
        description=(
            "List the account's S3 buckets: name, creation date and region (when AWS reports it), optionally "
            "only those with a name prefix or in one region. Buckets in regions the policy does not allow are "
            "counted, not shown."
        ),
        group="inventory",
        access=Access.READ,
        handler=s3_buckets,
        resource_args={"region": "regions"},
    )


def _s3_objects(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def s3_objects(
        bucket: BucketName,
        prefix: KeyPrefix = "",
        recursive: Recursive = False,
        *,
        region: Region = None,
        page_size: KeyPageSize = 200,
        cursor: Cursor = None,
    ) -> S3Listing:
        skip, token = _resume(cursor, "s3_objects")
        params: dict[str, Any] = {"Bucket": bucket, "MaxKeys": page_size}
        if prefix:
            params["Prefix"] = prefix
        if not recursive:
            params["Delimiter"] = "/"
        if token:
            params["ContinuationToken"] = token
        answer, _, _ = await aws.call(
            "s3", "ListObjectsV2", params, region, curated=True, target=f"s3://{bucket}/{prefix}"
        )
        entries = [
            S3Entry(
                key=strip_invisible(raw["Key"]),
                kind="object",
                size=raw.get("Size"),
                last_modified=plain(raw.get("LastModified")),
                storage_class=raw.get("StorageClass"),
            ).model_dump(exclude_none=True)
            for raw in answer.get("Contents") or []
        ]
        entries += [
            S3Entry(key=strip_invisible(raw["Prefix"]), kind="folder").model_dump(exclude_none=True)
            for raw in answer.get("CommonPrefixes") or []
        ]
        entries.sort(key=lambda entry: entry["key"])
        next_token = answer.get("NextContinuationToken") if answer.get("IsTruncated") else None
        kept, truncated, next_cursor = take_page(
            entries,
            kind="s3_objects",
            limit=page_size,
            budget=_budget(settings),
            skip=skip,
            token=token,
            next_token=next_token,
        )
        return S3Listing(
            bucket=bucket,
            prefix=prefix,
            entries=[S3Entry(**e) for e in kept],
            truncated=truncated,
            next_cursor=next_cursor,
        )

    return ToolSpec(
        name="aws_s3_objects",
        title="S3 object listing",
        description=(
            "List keys in an S3 bucket under a prefix, one folder level at a time (or recursive): key, size, "
            "last modified, storage class. Never reads object contents. next_cursor continues."
        ),
        group="inventory",
        access=Access.READ,
        handler=s3_objects,
        resource_args={"region": "regions"},
    )


def _lambda_functions(aws: AwsClient, settings: Settings) -> ToolSpec:
    async def lambda_functions(
        region: Region = None,
        page_size: LambdaPageSize = 50,
        cursor: Cursor = None,
    ) -> Functions:
        skip, token = _resume(cursor, "lambda_functions")
        params: dict[str, Any] = {"MaxItems": page_size}
        if token:
            params["Marker"] = token
        answer, _, chosen = await aws.call("lambda", "ListFunctions", params, region, curated=True)
        items = [_function(raw) for raw in answer.get("Functions") or []]
        kept, truncated, next_cursor = take_page(
            items,
            kind="lambda_functions",
            limit=page_size,
            budget=_budget(settings),
            skip=skip,
            token=token,
            next_token=answer.get("NextMarker"),
        )
        return Functions(
            region=chosen, functions=[Function(**f) for f in kept], truncated=truncated, next_cursor=next_cursor
        )

    return ToolSpec(
        name="aws_lambda_functions",
        title="Lambda functions",
        description=(
            "List Lambda functions in one region: name, runtime, handler, memory, timeout, code size, last "
            "modified, architecture, description. Environment variables and code are never returned."
        ),
        group="inventory",
        access=Access.READ,
        handler=lambda_functions,
        resource_args={"region": "regions"},
    )


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    return [
        _ec2_instances(aws, settings),
        _s3_buckets(aws, settings),
        _s3_objects(aws, settings),
        _lambda_functions(aws, settings),
    ]
