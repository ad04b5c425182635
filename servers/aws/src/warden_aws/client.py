"""The one place that talks to AWS.

- boto3 is imported on first use (start-up and `tools/list` never load it).
- One boto3 session (the standard credential chain, or one named profile), and one botocore client per
  (service, region), created once and reused: clients are thread-safe, the session is not, so creation
  takes a lock. Calls run in worker threads inside the core `Backend.call` (deadline, circuit breaker).
- Retries are botocore's, not the core's: botocore's standard mode knows every AWS throttling and
  transient error code, corrects clock skew, and keeps a retry quota so a struggling service is not
  hammered. It gets `total_max_attempts = WARDEN_AWS_BACKEND_ATTEMPTS`; the core runs each call once
  (`retry=False`), so attempts never multiply (3 x 3). The core still bounds the whole call with its
  deadline and opens its breaker on repeated transport failures.
- Every call is decided by `policy.OperationPolicy` first, so a refused operation never reaches AWS.
- Before a data call, the credential's account is checked against `WARDEN_AWS_ACCOUNTS` with STS
  caller identity, cached per access key (a new key, e.g. a new role session, is checked again). The
  accounts a request names (ARNs, account ids) were already checked by the policy, before anything is sent;
  S3 requests that name no bucket owner get the credential's account as `ExpectedBucketOwner`, so S3
  refuses a bucket in another account (bucket names do not say whose they are).
- Egress: a `before-send` hook on every client refuses a request that is not HTTPS to an AWS domain
  (or to the one configured endpoint), or that is signed for a region outside `WARDEN_AWS_REGIONS`
  (which also stops S3 from following a redirect into a region the policy does not allow).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio

from warden_aws import __version__
from warden_aws.classification import Classification
from warden_aws.errors import map_error
from warden_aws.policy import Decision, OperationPolicy
from warden_aws.settings import Settings
from warden_core import Allowlist, Backend, NotConfigured, PermissionDenied, PolicyDenied, attribution, identity
from warden_core.audit import note_target
from warden_core.auth import Principal
from warden_core.identity import IdentityMap

logger = logging.getLogger(__name__)

T = TypeVar("T")

AWS_DOMAINS = (
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".api.aws",
    ".amazonaws.eu",
    ".c2s.ic.gov",
    ".sc2s.sgov.gov",
    ".cloud.adc-e.uk",
    ".csp.hci.ic.gov",
)
_SIGNED_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
_MAX_CLIENTS = 512
_NOT_IN_NAME = re.compile(r"[^\w+=,.@-]")
_NOT_IN_TAG = re.compile(r"[^\w\s.:/=+@-]")


def _session_name(value: str) -> str:
    """A RoleSessionName or SourceIdentity: 2 to 64 of `[\\w+=,.@-]` (others become `-`)."""
    return _NOT_IN_NAME.sub("-", value)[:64].ljust(2, "-")


def _tag_value(value: str) -> str:
    return _NOT_IN_TAG.sub("_", value)[:256]


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str


class AwsClient:
    def __init__(self, settings: Settings, allowlists: Mapping[str, Allowlist], backend: Backend) -> None:
        self.settings = settings
        self.accounts = allowlists["accounts"]
        self.regions = allowlists["regions"]
        self.services = allowlists["services"]
        self.allow_sensitive = allowlists["allow_sensitive"]
        self.backend = backend
        self._lock = threading.RLock()
        self._session: Any = None
        self._config: Any = None
        self._clients: dict[tuple[str, str, str | None, str | None], Any] = {}
        self._identities: dict[tuple[str, str | None], Identity] = {}
        self.roles = IdentityMap.parse(settings.role_map)
        self.role_allowlist = Allowlist(Settings.env_name("roles"), settings.roles)
        self._role_sessions: dict[tuple[str, str], Any] = {}
        self._policy: OperationPolicy | None = None
        self._global_prefixes: frozenset[str] | None = None
        self._models: dict[str, Any] = {}
        self._service_names: list[str] | None = None
        endpoint = urlsplit(settings.endpoint_url) if settings.endpoint_url else None
        self._endpoint = (endpoint.scheme, endpoint.netloc) if endpoint else None

    # --- The policy (data loads on first use). ------------------------------------------------------------
    @property
    def policy(self) -> OperationPolicy:
        if self._policy is None:
            self._policy = OperationPolicy(
                Classification.load(),
                services=self.services,
                accounts=self.accounts,
                allow_sensitive=self.allow_sensitive,
            )
        return self._policy

    # --- Session, models and clients. ------------------------------------------------------------------
    def _boto_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import boto3
                from botocore.config import Config

                try:
                    self._session = boto3.session.Session(profile_name=self.settings.profile)
                except Exception as exc:
                    raise map_error(exc, "the AWS session") from None
                # botocore's `max_attempts` counts retries (N + 1 requests); `total_max_attempts` counts
                # requests, which is what WARDEN_AWS_BACKEND_ATTEMPTS means everywhere in Warden.
                self._config = Config(
                    retries={"mode": "standard", "total_max_attempts": self.settings.backend_attempts},
                    connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout,
                    max_pool_connections=self.settings.max_pool_connections,
                    user_agent_extra=f"warden-aws/{__version__}",
                )
            return self._session

    def botocore_session(self) -> Any:
        return self._boto_session()._session

    async def thread(self, fn: Callable[[], T]) -> T:
        """Run blocking SDK work in a worker thread; a cancelled caller does not wait for it."""
        return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)

    def available_services(self) -> list[str]:
        if self._service_names is None:
            self._service_names = list(self.botocore_session().get_available_services())
        return self._service_names

    def service_model(self, service: str) -> Any:
        """botocore's model of a service, built once (it is read-only data)."""
        model = self._models.get(service)
        if model is None:
            model = self._models[service] = self.botocore_session().get_service_model(service)
        return model

    def paginator(self, service: str, operation: str) -> Mapping[str, Any] | None:
        from botocore.exceptions import DataNotFoundError

        try:
            model = self.botocore_session().get_paginator_model(service)
        except DataNotFoundError:
            return None
        config: Mapping[str, Any] | None = model._paginator_config.get(operation)
        return config

    def is_global(self, service: str) -> bool:
        """A service with one partition-wide endpoint (IAM, Cost Explorer, ...): regions do not apply."""
        if self._global_prefixes is None:
            endpoints = self.botocore_session().get_component("data_loader").load_data("endpoints")
            self._global_prefixes = frozenset(
                name
                for partition in endpoints["partitions"]
                for name, data in partition["services"].items()
                if data.get("isRegionalized") is False
            )
        prefix = self.service_model(service).endpoint_prefix
        return prefix in self._global_prefixes

    def client(self, service: str, region: str) -> Any:
        """The client for this call: the server's own, or with ROLE_MAP one acting as the call's principal."""
        role = self.role_for(identity.current()) if self.roles else None
        return self._client(service, region, role)

    def _client(self, service: str, region: str, role: tuple[str, Principal] | None = None) -> Any:
        key = (service, region, role[0] if role else None, role[1].acting_id if role else None)
        client = self._clients.get(key)
        if client is not None:
            return client
        session = self._boto_session() if role is None else self._role_session(*role)
        regional = not self.is_global(service)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = session.client(
                    service, region_name=region, config=self._config, endpoint_url=self.settings.endpoint_url
                )
                client.meta.events.register(
                    "before-send", lambda request, **_: self._egress(request, regional=regional)
                )
                client.meta.events.register("before-send", _attribute)
                if len(self._clients) > _MAX_CLIENTS:
                    self._clients.clear()
                self._clients[key] = client
        return client

    # --- Per-principal roles (ROLE_MAP). ------------------------------------------------------------------------
    def role_for(self, principal: Principal) -> tuple[str, Principal]:
        """The role ARN the principal acts through; refused unless ROLE_MAP maps it to an allowed role."""
        arn = self.roles.lookup(principal)
        if arn is None:
            raise PermissionDenied(
                f"no AWS role is mapped for {principal.acting_id} ({Settings.env_name('role_map')}); "
                "add a rule for this principal or one of its groups"
            )
        self.role_allowlist.require(arn, "role")  # checked at start too: this server never assumes another
        return arn, principal

    def _role_session(self, arn: str, principal: Principal) -> Any:
        """A boto3 session whose credentials are `arn` assumed for `principal`, refreshed by botocore before expiry."""
        key = (arn, principal.acting_id)
        with self._lock:
            session = self._role_sessions.get(key)
            if session is not None:
                return session
            import boto3
            import botocore.session
            from botocore.credentials import CredentialProvider, CredentialResolver, DeferredRefreshableCredentials

            credentials = DeferredRefreshableCredentials(
                refresh_using=lambda: self._assume(arn, principal), method="sts-assume-role"
            )

            class Assumed(CredentialProvider):  # type: ignore[misc]
                METHOD = "warden-assume-role"

                def load(self) -> Any:
                    return credentials

            base = self.botocore_session()
            core = botocore.session.Session()
            core.register_component("data_loader", base.get_component("data_loader"))  # models load once
            core.register_component("credential_provider", CredentialResolver([Assumed()]))
            session = boto3.session.Session(botocore_session=core, region_name=self._boto_session().region_name)
            self._role_sessions[key] = session
            return session

    def _assume(self, arn: str, principal: Principal) -> dict[str, str]:
        """sts:AssumeRole with the server's own credential; SourceIdentity and session tags name the principal."""
        name = principal.acting_name
        sts = self._client("sts", self.settings.region or self._boto_session().region_name or "us-east-1")
        try:
            answer = sts.assume_role(
                RoleArn=arn,
                RoleSessionName=_session_name(f"warden-{name}"),
                SourceIdentity=_session_name(name),
                Tags=[
                    {"Key": "warden-principal", "Value": _tag_value(principal.acting_id)},
                    {"Key": "warden-caller", "Value": _tag_value(principal.id)},
                ],
                DurationSeconds=self.settings.role_session_seconds,
            )
        except Exception as exc:
            raise map_error(exc, f"assuming {arn} for {principal.acting_id}") from None
        credentials = answer["Credentials"]
        logger.info("assumed %s for %s until %s", arn, principal.acting_id, credentials["Expiration"])
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    def _egress(self, request: Any, *, regional: bool) -> None:
        """Refuse a request to anywhere but AWS (or the configured endpoint), or into a refused region."""
        url = urlsplit(request.url)
        host = (url.hostname or "").lower()
        configured = self._endpoint is not None and (url.scheme, url.netloc) == self._endpoint
        if not configured and (url.scheme != "https" or url.username or url.password or not host.endswith(AWS_DOMAINS)):
            raise PolicyDenied(f"refused to send an AWS request to {url.scheme}://{host}: not an AWS endpoint")
        signed = _SIGNED_REGION.search(str(request.headers.get("Authorization", "")))
        if regional and signed:
            self.regions.require(signed.group(1), "region")

    # --- Region and identity. ------------------------------------------------------------------------------------
    async def default_region(self) -> str:
        if self.settings.region:
            return self.settings.region
        session = await self.thread(self._boto_session)
        if not session.region_name:
            raise NotConfigured("WARDEN_AWS_REGION", "the AWS region")
        return str(session.region_name)

    async def region(self, region: str | None) -> str:
        """The region a call uses: the argument, or the default; either way the allowlist must admit it."""
        chosen = region or await self.default_region()
        self.regions.require(chosen, "region")
        return chosen

    async def identity(self, *, refresh: bool = False) -> Identity:
        """Who the credential is (STS caller identity), cached per access key id (and per assumed role)."""
        role = self.role_for(identity.current())[0] if self.roles else None
        key = (await self.thread(self._access_key), role)
        if not refresh and key in self._identities:
            return self._identities[key]
        region = await self.default_region()
        answer = await self._send("sts", "GetCallerIdentity", {}, region)
        found = Identity(account=answer["Account"], arn=answer["Arn"], user_id=answer["UserId"])
        self._identities[key] = found
        return found

    def _access_key(self) -> str:
        session = self._boto_session()
        try:
            credentials = session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except Exception as exc:
            raise map_error(exc, "loading AWS credentials") from None
        if frozen is None or not frozen.access_key:
            raise map_error(_no_credentials(), "loading AWS credentials")
        return str(frozen.access_key)

    async def ensure_account(self) -> str | None:
        """Refuse to read data unless the credential's account (or the assumed role's) is in the allowlist.

        Returns that account, or None when every account is allowed (then nobody asks STS)."""
        if self.accounts.unrestricted:
            return None
        role = self.role_for(identity.current())[0] if self.roles else None
        account = role.split(":")[4] if role else (await self.identity()).account
        self.accounts.require(account, "AWS account")
        return account

    # --- Calls. ------------------------------------------------------------------------------------------------
    def model_operations(self, service: str) -> Collection[str]:
        return self.service_model(service).operation_names  # type: ignore[no-any-return]

    async def call(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        region: str | None,
        *,
        curated: bool = False,
        target: str | None = None,
    ) -> tuple[dict[str, Any], Decision, str]:
        """Decide, check the region and account, then make one AWS request. Returns (answer, decision, region)."""
        operations = await self.thread(lambda: self.model_operations(service))
        decision = self.policy.decide(service, operation, params, operations, curated=curated)
        global_service = await self.thread(lambda: self.is_global(service))
        chosen = (region or await self.default_region()) if global_service else await self.region(region)
        account = await self.ensure_account()
        if account is not None:
            params = self._own_buckets_only(service, operation, params, account)
        answer = await self._send(service, operation, params, chosen, target=target)
        return answer, decision, chosen

    def _own_buckets_only(
        self, service: str, operation: str, params: Mapping[str, Any], account: str
    ) -> Mapping[str, Any]:
        """Name the credential's account as the expected bucket owner when the caller named none.

        A bucket's name and ARN say nothing about its owner, so the account search in the policy cannot see
        a bucket in another account. With ExpectedBucketOwner set, S3 itself refuses (403) a bucket that
        another account owns. To read a bucket in another allowed account, pass its account explicitly
        (the policy has already checked that account against the allowlist).
        """
        shape = self.service_model(service).operation_model(operation).input_shape
        if shape is None or "ExpectedBucketOwner" not in shape.members or params.get("ExpectedBucketOwner"):
            return params
        return {**params, "ExpectedBucketOwner": account}

    async def _send(
        self, service: str, operation: str, params: Mapping[str, Any], region: str, *, target: str | None = None
    ) -> dict[str, Any]:
        what = f"{service}:{operation}"
        note_target(f"{what}@{region}" + (f" {target}" if target else ""))

        def run() -> dict[str, Any]:
            from botocore import xform_name

            try:
                client = self.client(service, region)
                answer: dict[str, Any] = getattr(client, xform_name(operation))(**params)
            except Exception as exc:
                raise map_error(exc, what) from None
            return answer

        return await self.backend.call(lambda: self.thread(run), retry=False)


def _attribute(request: Any, **_: Any) -> None:
    """End the User-Agent with the MCP request's attribution (CloudTrail records it as `userAgent`).

    User-Agent is not signed (SigV4 leaves it out), and each attempt is a request made afresh.
    """
    comment = attribution.user_agent_comment()
    agent = str(request.headers.get("User-Agent", ""))
    if comment and comment not in agent:
        request.headers["User-Agent"] = f"{agent} {comment}"


def _no_credentials() -> Exception:
    from botocore.exceptions import NoCredentialsError

    error: Exception = NoCredentialsError()
    return error
