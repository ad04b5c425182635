"""The generic tools: call one AWS API read operation, and look up what an operation takes.

Names and parameters are validated against botocore's service model before anything is sent: an unknown
service, operation or parameter is refused with the valid choices. The operation must be a read in the
reviewed classification (see `policy.py`). Paginated operations answer one page and a cursor; an answer
larger than the byte cap is cut by whole items, with a cursor that resumes inside the page.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from warden_aws.client import AwsClient
from warden_aws.policy import describe_condition, explain
from warden_aws.render import Masker, decode_cursor, encode_cursor, take_page
from warden_aws.settings import Settings
from warden_aws.tools.common import Cursor, Region
from warden_core import Access, Budget, InvalidArgument, ToolSpec, json_size, truncate_text
from warden_core.errors import PolicyDenied
from warden_core.results import Lean, Row

MAX_CHOICES = 40
MAX_PARAMETERS_BYTES = 32_768
_HTML = re.compile(r"<[^>]+>")

Service = Annotated[
    str,
    Field(
        description="botocore's name: ec2, s3, logs, ...",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
    ),
]
Operation = Annotated[
    str,
    Field(
        description="e.g. DescribeInstances.",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,127}$",
    ),
]
OptionalOperation = Annotated[
    str | None,
    Field(
        description="Omit to list the service's read operations.",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,127}$",
    ),
]
Parameters = Annotated[
    dict[str, Any] | None,
    Field(description="Request parameters, as in the AWS API."),
]
PageSize = Annotated[
    int | None,
    Field(description="Items per page (paginated operations).", ge=1, le=1000),
]


class ApiResult(Lean):
    service: str
    operation: str
    region: str
    result: dict[str, Any] | None = None
    result_text: str | None = Field(None, description="An answer too large to cut by items, as JSON, cut.")
    truncated: bool
    next_cursor: str | None = None
    masked: list[str] = Field(description="Paths replaced by [sensitive].")
    note: str | None = None


class ParameterInfo(Row):
    name: str
    type: str
    required: bool
    enum: list[str] | None = None
    doc: str | None = None


class ApiInfo(Lean):
    service: str
    service_allowed: bool
    operation: str | None = None
    classification: str | None = Field(None, description="read, sensitive, write or unknown.")
    reason: str | None = None
    callable: bool | None = Field(None, description="Whether aws_call runs it (with plain arguments).")
    paginated: bool | None = None
    page_size_parameter: str | None = None
    parameters: list[ParameterInfo] | None = None
    output_members: list[str] | None = None
    read_operations: list[str] | None = None
    counts: dict[str, int] | None = None
    truncated: bool = False


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _first_sentence(doc: str, limit: int = 200) -> str | None:
    text = " ".join(_HTML.sub(" ", doc).split())
    if not text:
        return None
    sentence = text.split(". ")[0]
    kept, cut = truncate_text(sentence, limit)
    return kept + ("..." if cut else "")


def _choices(name: str, options: list[str]) -> list[str]:
    close = difflib.get_close_matches(name, options, n=10, cutoff=0.6)
    return close or sorted(options)[:MAX_CHOICES]


class Resolver:
    """Service and operation names checked against botocore's models (no request is made)."""

    def __init__(self, aws: AwsClient) -> None:
        self.aws = aws

    def service(self, service: str) -> str:
        available = self.aws.available_services()
        if service not in available:
            raise InvalidArgument(
                f"unknown AWS service {service!r}; closest botocore names: {', '.join(_choices(service, available))}"
            )
        return service

    def operation(self, service: str, operation: str) -> Any:
        model = self.aws.service_model(service)
        names = list(model.operation_names)
        if operation not in names:
            from botocore import xform_name

            by_snake = {xform_name(name): name for name in names}
            if operation in by_snake:
                operation = by_snake[operation]
            else:
                reads = sorted(self.aws.policy.classification.reads(service))
                close = difflib.get_close_matches(operation, names, n=10, cutoff=0.6)
                offer = close or reads[:MAX_CHOICES]
                more = "" if close or len(reads) <= MAX_CHOICES else f" (and {len(reads) - MAX_CHOICES} more reads)"
                label = "closest operations" if close else "read operations"
                raise InvalidArgument(
                    f"unknown operation {operation!r} for {service}; {label}: {', '.join(offer)}{more}. "
                    "aws_api_info lists them all."
                )
        return model.operation_model(operation)

    @staticmethod
    def parameters(op_model: Any, params: Mapping[str, Any]) -> None:
        from botocore.validate import ParamValidator

        shape = op_model.input_shape
        members = list(shape.members) if shape is not None else []
        unknown = sorted(set(params) - set(members))
        if unknown:
            valid = ", ".join(members[:60]) + (" ..." if len(members) > 60 else "") if members else "none"
            raise InvalidArgument(
                f"unknown parameter {unknown[0]!r} for {op_model.service_model.service_name}:{op_model.name}; "
                f"valid parameters: {valid}"
            )
        if shape is None:
            return
        report = ParamValidator().validate(dict(params), shape)
        if report.has_errors():
            kept, cut = truncate_text(report.generate_report(), 800)
            raise InvalidArgument(
                f"invalid parameters for {op_model.service_model.service_name}:{op_model.name}: {kept}"
                + (" ..." if cut else "")
            )


def _next_tokens(pager: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any] | None:
    import jmespath

    more = pager.get("more_results")
    if more and not jmespath.search(more, answer):
        return None
    tokens = {}
    for name, expression in zip(_as_list(pager.get("input_token")), _as_list(pager.get("output_token")), strict=False):
        value = jmespath.search(expression, answer)
        if value not in (None, "", [], {}):
            tokens[name] = value
    return tokens or None


def _primary_key(pager: Mapping[str, Any] | None, data: Mapping[str, Any]) -> str | None:
    """The list an answer is made of: the paginator's first plain result key, or the one top-level list."""
    keys = _as_list(pager.get("result_key")) if pager else []
    for key in keys:
        if re.fullmatch(r"[A-Za-z0-9_]+", key) and isinstance(data.get(key), list):
            return key
    lists = [key for key, value in data.items() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else None


def _fit(
    data: dict[str, Any],
    *,
    key: str | None,
    kind: str,
    max_bytes: int,
    skip: int,
    token: Any,
    next_token: Any,
    page_size: int | None,
) -> tuple[bool, str | None, str | None]:
    """Cut `data` (in place) to `max_bytes` by whole items of its main list. Returns (truncated, cursor, note)."""

    def cursor_for(tokens: Any, shown: int) -> str:
        return encode_cursor({"k": kind, "t": tokens, "s": shown, "p": page_size})

    next_cursor = cursor_for(next_token, 0) if next_token else None
    if key is None or not (skip or json_size(data) > max_bytes):
        return False, next_cursor, None
    items = data.pop(key)
    budget = Budget(max_bytes)
    if not budget.reserve(json_size(data)):
        data[key] = items  # the rest of the answer alone is too big: the caller cuts it as text
        return True, next_cursor, None
    kept, truncated, resume = take_page(items, kind=kind, budget=budget, skip=skip, token=token, next_token=next_token)
    # One item larger than the whole cap: show it cut as text (by the caller) rather than nothing.
    data[key] = kept if kept or not truncated else items[skip : skip + 1]
    if resume is not None:
        state = decode_cursor(resume, kind)
        next_cursor = cursor_for(state["t"], state["s"])
    else:
        next_cursor = None
    note = f"{key} was cut at the output cap after {len(kept)} items; next_cursor continues" if truncated else None
    return truncated, next_cursor, note


def _call_spec(aws: AwsClient, settings: Settings, resolver: Resolver) -> ToolSpec:
    async def call(
        service: Service,
        operation: Operation,
        parameters: Parameters = None,
        *,
        region: Region = None,
        page_size: PageSize = None,
        cursor: Cursor = None,
    ) -> ApiResult:
        params = dict(parameters or {})
        if json_size(params) > MAX_PARAMETERS_BYTES:
            raise InvalidArgument(f"parameters are larger than {MAX_PARAMETERS_BYTES} bytes")
        name = await aws.thread(lambda: resolver.service(service))
        op_model = await aws.thread(lambda: resolver.operation(name, operation))
        op = op_model.name
        kind = f"{name}:{op}"
        operations = await aws.thread(lambda: aws.model_operations(name))
        aws.policy.decide(name, op, params, operations)  # refuse before validating (clearer), and again in call
        pager = await aws.thread(lambda: aws.paginator(name, op))

        skip, token = 0, None
        if cursor:
            state = decode_cursor(cursor, kind)
            skip, token, page_size = state["s"], state.get("t"), state.get("p") or page_size
            if token is not None and not isinstance(token, dict):
                raise InvalidArgument("cursor is not valid for this call: pass next_cursor unchanged")
        if page_size is not None:
            limit_key = pager.get("limit_key") if pager else None
            if not limit_key:
                raise InvalidArgument(f"{kind} does not take a page size")
            params[limit_key] = page_size
        if token:
            params.update(token)
        resolver.parameters(op_model, params)

        answer, decision, chosen = await aws.call(name, op, params, region)
        masker = Masker(aws.policy.classification.masked_members(name), unmask=decision.unmask)
        data = masker.render(answer, op_model.output_shape)
        max_bytes = max(1024, settings.max_output_bytes - 4096)
        truncated, next_cursor, note = _fit(
            data,
            key=_primary_key(pager, data),
            kind=kind,
            max_bytes=max_bytes,
            skip=skip,
            token=token,
            next_token=_next_tokens(pager, answer) if pager else None,
            page_size=page_size,
        )
        text = None
        if json_size(data) > max_bytes:
            text, _ = truncate_text(json.dumps(data, ensure_ascii=False), max_bytes)
            truncated = True
            note = "the answer is larger than the output cap and was cut as text; narrow it with filters or page_size"
        return ApiResult(
            service=name,
            operation=op,
            region=chosen,
            result=None if text is not None else data,
            result_text=text,
            truncated=truncated,
            next_cursor=next_cursor,
            masked=masker.masked[:30],
            note=note,
        )

    return ToolSpec(
        name="aws_call",
        title="Call an AWS read API",
        description=(
            "Call one AWS read API operation (botocore names: ec2 DescribeSecurityGroups) with its parameters. "
            "Writes and calls that mint credentials or reveal secrets are refused; sensitive fields are "
            "masked; one page per call. Prefer a dedicated aws_* tool when one fits."
        ),
        group="api",
        access=Access.READ,
        handler=call,
        resource_args={"region": "regions"},
    )


def _parameters(op_model: Any) -> list[ParameterInfo]:
    shape = op_model.input_shape
    if shape is None:
        return []
    required = set(shape.required_members)
    return [
        ParameterInfo(
            name=member,
            type=member_shape.type_name,
            required=member in required,
            enum=list(member_shape.enum)[:25] if getattr(member_shape, "enum", None) else None,
            doc=_first_sentence(member_shape.documentation or ""),
        )
        for member, member_shape in shape.members.items()
    ]


def _info_spec(aws: AwsClient, settings: Settings, resolver: Resolver) -> ToolSpec:
    async def info(service: Service, operation: OptionalOperation = None) -> ApiInfo:
        name = await aws.thread(lambda: resolver.service(service))
        classification = aws.policy.classification
        allowed = aws.services.allows(name)
        operations = await aws.thread(lambda: aws.model_operations(name))
        if operation is None:
            reads = sorted(classification.reads(name))
            budget = Budget(max(1024, settings.max_output_bytes // 2))
            shown = [read for read in reads if budget.admit(read)]
            sensitive = len(classification.sensitive(name))
            return ApiInfo(
                service=name,
                service_allowed=allowed,
                read_operations=shown,
                counts={"read": len(reads), "sensitive": sensitive, "write": len(operations) - len(reads) - sensitive},
                truncated=budget.truncated,
            )
        op_model = await aws.thread(lambda: resolver.operation(name, operation))
        op = op_model.name
        found = classification.lookup(name, op, operations)
        try:
            aws.policy.decide(name, op, {}, operations)
            runnable = True
        except PolicyDenied:
            runnable = False
        reason = explain(found.reason)
        if found.condition:
            reason += f"; sensitive {describe_condition(found.condition)}"
        pager = await aws.thread(lambda: aws.paginator(name, op))
        output = op_model.output_shape
        return ApiInfo(
            service=name,
            service_allowed=allowed,
            operation=op,
            classification=found.cls,
            reason=reason,
            callable=runnable,
            paginated=pager is not None,
            page_size_parameter=pager.get("limit_key") if pager else None,
            parameters=_parameters(op_model),
            output_members=list(output.members) if output is not None else [],
        )

    return ToolSpec(
        name="aws_api_info",
        title="Describe an AWS API",
        description=(
            "A service's read operations, or one operation's parameters, paging and whether aws_call may run "
            "it, from botocore's model (no AWS call)."
        ),
        group="api_docs",
        access=Access.READ,
        handler=info,
        open_world=False,
    )


def specs(aws: AwsClient, settings: Settings) -> list[ToolSpec]:
    resolver = Resolver(aws)
    return [_call_spec(aws, settings, resolver), _info_spec(aws, settings, resolver)]
