"""botocore's exceptions mapped to the core's error family. Messages are short, actionable and sanitized."""

from __future__ import annotations

from typing import Any

from warden_core import (
    InvalidArgument,
    NotConfigured,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamUnavailable,
    WardenError,
    strip_invisible,
    truncate_text,
)
from warden_core.resilience import Retryable, connection_failure

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidToken",
        "RequestExpired",
    }
)
DENIED_WORDS = ("AccessDenied", "Unauthorized", "NotAuthorized", "Forbidden")
NOT_FOUND_WORDS = ("NotFound", "NoSuch", "DoesNotExist", "NotExist")

THROTTLE_RETRY_AFTER = 5.0
"""AWS sends no Retry-After; after botocore's own retries, suggest this pause to the caller."""

CREDENTIAL_HINT = "WARDEN_AWS_PROFILE (or the standard AWS credential chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, a role)"


def _clean(text: Any, limit: int = 300) -> str:
    kept, cut = truncate_text(strip_invisible(str(text)), limit)
    return kept + (" ..." if cut else "")


def map_error(exc: BaseException, what: str) -> BaseException:
    """The error to raise for `exc`, which happened while calling `what` (`ec2:DescribeInstances`)."""
    from botocore import exceptions as bx

    if isinstance(exc, WardenError | Retryable):
        return exc
    if isinstance(exc, bx.ProfileNotFound):
        profile = _clean(exc.kwargs.get("profile"), 80)
        return NotConfigured(
            "WARDEN_AWS_PROFILE",
            "the AWS profile",
            f"AWS profile {profile!r} is not defined in the AWS config or credentials file "
            "(~/.aws/config, ~/.aws/credentials): check WARDEN_AWS_PROFILE (or AWS_PROFILE)",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return NotConfigured(CREDENTIAL_HINT, "an AWS credential")
    if isinstance(exc, bx.NoRegionError):
        return NotConfigured("WARDEN_AWS_REGION", "the AWS region")
    if isinstance(exc, bx.SSOError | bx.TokenRetrievalError | bx.CredentialRetrievalError):
        return PermissionDenied(
            "AWS credentials could not be loaded or have expired; refresh them "
            "(for an SSO profile: aws sso login --profile <name>)"
        )
    if isinstance(exc, bx.ParamValidationError):
        return InvalidArgument(f"invalid parameters for {what}: {_clean(exc.kwargs.get('report', exc), 800)}")
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return Retryable(f"AWS did not answer {what} in time")
    if isinstance(exc, bx.ConnectionClosedError):
        return Retryable(f"the connection was closed before the answer to {what} came (AWS may be restarting it)")
    if isinstance(exc, bx.EndpointConnectionError | bx.HTTPClientError):
        reason = connection_failure(exc) or "the connection failed"
        return Retryable(f"cannot reach AWS for {what}: {reason}")
    if isinstance(exc, bx.ClientError):
        return _client_error(exc, what)
    if isinstance(exc, bx.BotoCoreError):
        return UpstreamUnavailable(f"AWS call {what} failed: {_clean(exc)}")
    return exc


def _client_error(exc: Any, what: str) -> BaseException:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = _clean(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in THROTTLING or status == 429:
        return RateLimited(f"AWS is throttling {what} ({code})", THROTTLE_RETRY_AFTER)
    if code in BAD_CREDENTIALS:
        return PermissionDenied(
            f"AWS rejected the credentials ({code}): they are invalid or expired; refresh them "
            "(for an SSO profile: aws sso login --profile <name>)"
        )
    if any(word in code for word in DENIED_WORDS) or status == 403:
        return PermissionDenied(f"the AWS credential may not call {what} ({code}); grant it in IAM if it should")
    if any(word in code for word in NOT_FOUND_WORDS) or status == 404:
        return NotFound(f"{what}: {code}: {message}" if message else f"{what}: {code}")
    if status >= 500:
        return Retryable(f"AWS failed {what} ({code})")
    return InvalidArgument(f"AWS refused {what}: {code}: {message}" if message else f"AWS refused {what}: {code}")
