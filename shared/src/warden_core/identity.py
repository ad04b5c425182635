"""Who a call is for: the authenticated caller, and the end user a trusted gateway says it acts for.

A gateway (IBM ContextForge, say) authenticates its users itself and calls Warden with one
credential of its own. With identity propagation on, it names the user of each call: in headers
(`X-Forwarded-User-Id`, `X-Forwarded-User-Email`, `X-Forwarded-User-Groups`, ...), in the request's
`_meta.user`, or in a signed assertion (a JWT). Warden believes such a claim only from a caller
listed in `TRUSTED_GATEWAYS` (API key names or OAuth client ids). From anyone else the claim is
ignored, and the audit event says so. When an assertion key is configured, only a verified
assertion names an end user: plain headers are then refused even from a trusted gateway.

The principal a call runs as (for the policy, the limits and the backend) is the end user when
there is one, and the caller otherwise; the audit event records both.
"""

from __future__ import annotations

import contextvars
import dataclasses
import fnmatch
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warden_core.auth import LOCAL, AuthError, Principal
from warden_core.settings import CoreSettings

if TYPE_CHECKING:
    import jwt

    from warden_core.audit import AuditRecord

logger = logging.getLogger(__name__)

HEADER_PREFIX = "x-forwarded-user"
"""ContextForge's default prefix (IDENTITY_PROPAGATION_HEADERS_PREFIX): -Id, -Email, -Groups, ..."""

ID_HEADER = f"{HEADER_PREFIX}-id"
EMAIL_HEADER = f"{HEADER_PREFIX}-email"
GROUPS_HEADER = f"{HEADER_PREFIX}-groups"
SIGNATURE_HEADER = f"{HEADER_PREFIX}-claims-signature"

MAX_GROUPS = 64
_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
_GROUP = re.compile(r"^[^\x00-\x1f\x7f,]{1,128}$")


@dataclass(frozen=True)
class EndUser:
    """A person a trusted gateway calls for: its id, email and groups as the gateway (or assertion) says."""

    id: str
    email: str | None = None
    groups: frozenset[str] = frozenset()
    via: str = "headers"  # headers | assertion | meta


_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("warden_principal", default=LOCAL)


def current() -> Principal:
    """The principal of the request being handled (the local user outside any request)."""
    return _current.get()


def enter(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)


def leave(token: contextvars.Token[Principal]) -> None:
    _current.reset(token)


def groups_from_claim(claims: Mapping[str, Any], path: str | None) -> frozenset[str]:
    """The groups in a token's claim `path` (dotted for nested claims: `realm_access.roles`)."""
    if not path:
        return frozenset()
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        items: Iterable[Any] = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return frozenset()
    return _clean_groups(str(item) for item in items)


def _clean_groups(items: Iterable[str]) -> frozenset[str]:
    groups = [item.strip() for item in items if item and item.strip()]
    if len(groups) > MAX_GROUPS or not all(_GROUP.match(group) for group in groups):
        raise AuthError("the asserted groups are malformed or too many")
    return frozenset(groups)


def _clean(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _VALUE.match(value.strip()):
        raise AuthError(f"the asserted end user's {what} is malformed")
    return value.strip()


class Gateways:
    """Decides whether a caller may name an end user, and reads the end user it names."""

    def __init__(self, settings: CoreSettings) -> None:
        self.trusted = frozenset(settings.trusted_gateways)
        self.groups_claim = settings.oauth_groups_claim
        secret = settings.gateway_claims_secret
        self._hmac_key = secret.get_secret_value().encode() if secret is not None else None
        self.assertion_header = settings.identity_assertion_header.lower()
        self._assertion_issuer = settings.identity_assertion_issuer
        self._assertion_audience = settings.identity_assertion_audience or settings.public_url
        self._algorithms = list(settings.oauth_algorithms)
        self._assertion_key: Any = None
        self._assertion_jwks: jwt.PyJWKClient | None = None
        if settings.identity_assertion_jwks_url:
            import jwt

            self._assertion_jwks = jwt.PyJWKClient(
                settings.identity_assertion_jwks_url, cache_keys=True, lifespan=300, timeout=5
            )
        elif settings.identity_assertion_key is not None:
            self._assertion_key = settings.identity_assertion_key

    @property
    def signed_only(self) -> bool:
        """Only a verified assertion names an end user (an assertion key or JWKS is configured)."""
        return self._assertion_key is not None or self._assertion_jwks is not None

    def is_trusted(self, principal: Principal) -> bool:
        if principal.kind not in ("api_key", "oauth") or principal.client_id is None:
            return False
        return principal.client_id in self.trusted

    # --- HTTP headers (the front door). ----------------------------------------------------------------
    async def from_headers(self, principal: Principal, headers: Mapping[str, str]) -> tuple[Principal, str | None]:
        """The principal with the end user its headers name, and a note for the audit event when they were ignored.

        Raises `AuthError` when a trusted gateway sends an assertion or signature that does not verify:
        a gateway that tried to name a user and failed must not fall back to acting as itself.
        """
        named = ID_HEADER in headers or self.assertion_header in headers
        if not named:
            return principal, None
        if not self.is_trusted(principal):
            return principal, f"end-user headers from {principal.id} ignored: it is not a trusted gateway"
        if self.assertion_header in headers:
            if not self.signed_only:
                return principal, f"{self.assertion_header} ignored: no assertion key is configured"
            return self._with(principal, await self._verify_assertion(headers[self.assertion_header])), None
        if self.signed_only:
            raise AuthError("this server accepts the end user only as a signed assertion")
        user_id = _clean(headers[ID_HEADER], "id")
        email = _clean(headers[EMAIL_HEADER], "email") if headers.get(EMAIL_HEADER) else None
        if self._hmac_key is not None:
            self._check_signature(user_id, email, headers.get(SIGNATURE_HEADER))
        groups = _clean_groups(headers.get(GROUPS_HEADER, "").split(","))
        return self._with(principal, EndUser(id=user_id, email=email, groups=groups, via="headers")), None

    def _check_signature(self, user_id: str, email: str | None, signature: str | None) -> None:
        """ContextForge's IDENTITY_SIGN_CLAIMS: HMAC-SHA256 over `<id>:<email>` with the shared secret."""
        assert self._hmac_key is not None
        expected = hmac.new(self._hmac_key, f"{user_id}:{email or ''}".encode(), hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(expected, signature.strip().lower()):
            raise AuthError("the end-user claims signature does not verify")

    async def _verify_assertion(self, token: str) -> EndUser:
        import anyio.to_thread
        import jwt

        try:
            if self._assertion_jwks is not None:
                key: Any = await anyio.to_thread.run_sync(self._assertion_jwks.get_signing_key_from_jwt, token)
            else:
                key = self._assertion_key
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._assertion_audience,
                issuer=self._assertion_issuer,
                options={"require": ["exp", "sub"], "verify_aud": self._assertion_audience is not None},
                leeway=30,
            )
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("assertion JWKS fetch failed: %s", exc)
            raise AuthError("assertion signing keys unavailable") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid end-user assertion: {type(exc).__name__}") from None
        email = claims.get("email")
        return EndUser(
            id=_clean(str(claims["sub"]), "id"),
            email=_clean(email, "email") if email else None,
            groups=groups_from_claim(claims, self.groups_claim),
            via="assertion",
        )

    # --- MCP `_meta.user` (the gate). ---------------------------------------------------------------------
    def from_meta(self, principal: Principal, meta: Any) -> tuple[Principal, str | None]:
        """ContextForge's `_meta.user` ({id, email, groups, ...}), when headers named nobody."""
        user = meta.get("user") if isinstance(meta, Mapping) else None
        if user is None or principal.end_user is not None:
            return principal, None
        if not self.is_trusted(principal):
            return principal, f"_meta.user from {principal.id} ignored: it is not a trusted gateway"
        if self.signed_only:
            return principal, "_meta.user ignored: this server accepts the end user only as a signed assertion"
        if not isinstance(user, Mapping) or "id" not in user:
            raise AuthError("_meta.user names no id")
        email = user.get("email")
        groups = user.get("groups") or []
        end_user = EndUser(
            id=_clean(user["id"], "id"),
            email=_clean(email, "email") if email else None,
            groups=_clean_groups(str(g) for g in groups) if isinstance(groups, list) else frozenset(),
            via="meta",
        )
        return self._with(principal, end_user), None

    @staticmethod
    def _with(principal: Principal, end_user: EndUser) -> Principal:
        return dataclasses.replace(principal, end_user=end_user)


def note(record: AuditRecord, principal: Principal, ignored: str | None = None) -> None:
    """Put the caller and the end user it acts for on the audit event."""
    record.principal, record.client_id = principal.id, principal.client_id
    if principal.end_user is not None:
        record.end_user = principal.end_user.id
        record.end_user_via = principal.end_user.via
    if ignored is not None:
        record.identity_ignored = ignored


# --- Mapping principals to backend identities. --------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    kind: str  # principal | group | *
    pattern: str
    value: str

    def matches(self, principal: Principal) -> bool:
        if self.kind == "*":
            return True
        if self.kind == "principal":
            return fnmatch.fnmatchcase(principal.acting_id, self.pattern)
        return any(fnmatch.fnmatchcase(group, self.pattern) for group in principal.acting_groups)


class IdentityMap:
    """`principal:<id>=<value>`, `group:<name>=<value>` and `*=<value>` rules; the first that matches wins.

    Ids and names may be globs (`principal:user/*@example.com`). Used by servers to map a principal to
    a database role, an AWS role ARN, ... Lookups are cached per principal and group set.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._cache: dict[tuple[str, frozenset[str]], str | None] = {}

    @classmethod
    def parse(cls, entries: Iterable[str]) -> IdentityMap:
        """Raises ValueError with a message naming the bad entry (safe to show: these are not secrets)."""
        rules = []
        for entry in entries:
            selector, sep, value = entry.partition("=")
            selector, value = selector.strip(), value.strip()
            kind, _, pattern = selector.partition(":")
            if not sep or not value or (selector != "*" and (kind not in ("principal", "group") or not pattern)):
                raise ValueError(f"{entry!r} must be `principal:<id>=<value>`, `group:<name>=<value>` or `*=<value>`")
            rules.append(Rule("*" if selector == "*" else kind, pattern, value))
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(rule.value for rule in self.rules)

    def lookup(self, principal: Principal) -> str | None:
        key = (principal.acting_id, principal.acting_groups)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = next((rule.value for rule in self.rules if rule.matches(principal)), None)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = found
        return found
