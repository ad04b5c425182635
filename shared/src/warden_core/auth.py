"""Who is calling, over HTTP: static API keys, or OAuth 2.1 access tokens (JWT, verified with JWKS).

stdio and in-memory connections are local and never authenticate: the principal is `local`.
The caller's token authenticates the caller to Warden and stops here; backends are always called
with the server's own credential.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from warden_core.settings import CoreSettings

if TYPE_CHECKING:
    import jwt

    from warden_core.identity import EndUser

logger = logging.getLogger(__name__)

ALL_SCOPES = frozenset({"*:destructive"})
"""What an API key grants: everything the server exposes (the policy still decides what that is)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, its groups, and the end user it acts for (only ever set for a trusted gateway)."""

    id: str
    kind: str
    scopes: frozenset[str]
    client_id: str | None = None
    subject: str | None = None
    issuer: str | None = None
    groups: frozenset[str] = frozenset()
    end_user: EndUser | None = None

    @property
    def acting_id(self) -> str:
        """Whom the call is for: `user/<id>` for an end user, the caller's own id otherwise."""
        return f"user/{self.end_user.id}" if self.end_user is not None else self.id

    @property
    def acting_groups(self) -> frozenset[str]:
        """The end user's groups (as the gateway asserts them), or the caller's own."""
        return self.end_user.groups if self.end_user is not None else self.groups

    @property
    def acting_name(self) -> str:
        """The plain name a backend knows: the end user's id, the OAuth subject, or the API key's name."""
        if self.end_user is not None:
            return self.end_user.id
        return self.subject or self.client_id or self.id


LOCAL = Principal(id="local", kind="local", scopes=ALL_SCOPES)
"""The user who started the process (stdio, in-memory): trusted by construction."""

ANONYMOUS_LOOPBACK = Principal(id="anonymous", kind="anonymous", scopes=ALL_SCOPES)
"""An HTTP caller on a loopback-only server with no auth configured (development)."""


class AuthError(Exception):
    """A presented credential was rejected. The message is safe to log, never to return verbatim."""


@dataclass(frozen=True)
class _ApiKey:
    name: str
    digest: bytes
    groups: frozenset[str] = frozenset()


_KEY_NAME = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<groups>[^\[\]]*)\])?$")


def parse_api_key(entry: str) -> _ApiKey:
    """`name:sha256:<hex>` or `name:<key>` (hashed here), the name optionally followed by its groups:
    `ci[deploy+readers]:sha256:<hex>`. Raises ValueError with a message safe to show."""
    label, sep, rest = entry.partition(":")
    named = _KEY_NAME.match(label)
    if not sep or not named or not rest:
        raise ValueError("each entry must be `name:sha256:<hex>` or `name:<key>` (name may be `name[group+group]`)")
    name = named["name"]
    groups = frozenset(g.strip() for g in (named["groups"] or "").split("+") if g.strip())
    algorithm, sep, hexdigest = rest.partition(":")
    if sep and algorithm == "sha256":
        try:
            digest = bytes.fromhex(hexdigest)
        except ValueError:
            raise ValueError(f"key {name!r} has a malformed sha256 digest") from None
        if len(digest) != 32:
            raise ValueError(f"key {name!r} digest must be 64 hex characters")
        return _ApiKey(name, digest, groups)
    if len(rest) < 16:
        raise ValueError(f"key {name!r} is shorter than 16 characters")
    return _ApiKey(name, hashlib.sha256(rest.encode()).digest(), groups)


def hash_api_key(key: str) -> str:
    """The `sha256:<hex>` form to put in the settings instead of the key itself."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Turns an `Authorization` header value into a `Principal`, or raises `AuthError`."""

    def __init__(self, settings: CoreSettings) -> None:
        # Only digests are kept in memory; the plaintext entries are dropped with the parse.
        # (Settings already checked the entries, so a malformed key cannot get this far.)
        self._keys = tuple(parse_api_key(key.get_secret_value()) for key in settings.api_keys)
        self.issuer = settings.oauth_issuer
        self.audience = settings.oauth_audience or settings.public_url
        self._algorithms = list(settings.oauth_algorithms)
        self._groups_claim = settings.oauth_groups_claim
        self._jwks: jwt.PyJWKClient | None = None
        if settings.oauth_jwks_url:
            import jwt  # only OAuth deployments pay for the JOSE stack

            self._jwks = jwt.PyJWKClient(settings.oauth_jwks_url, cache_keys=True, lifespan=300, timeout=5)

    @property
    def enabled(self) -> bool:
        return bool(self._keys) or self._jwks is not None

    @property
    def oauth(self) -> bool:
        return self._jwks is not None

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError("no credentials")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("not a bearer token")
        if self._keys:
            principal = self._match_api_key(token)
            if principal is not None:
                return principal
        if self._jwks is not None and token.count(".") == 2:
            return await self._verify_jwt(token)
        raise AuthError("unknown credential")

    def _match_api_key(self, token: str) -> Principal | None:
        presented = hashlib.sha256(token.encode()).digest()
        match: _ApiKey | None = None
        # Compare against every key so the time taken does not depend on which one matched.
        for key in self._keys:
            if hmac.compare_digest(presented, key.digest):
                match = key
        if match is None:
            return None
        return Principal(
            id=f"apikey/{match.name}", kind="api_key", scopes=ALL_SCOPES, client_id=match.name, groups=match.groups
        )

    async def _verify_jwt(self, token: str) -> Principal:
        import jwt

        from warden_core.identity import groups_from_claim

        assert self._jwks is not None
        jwks = self._jwks
        try:
            # The JWKS URL is configuration; `jku`/`x5u` headers in the token are never followed.
            signing_key = await anyio.to_thread.run_sync(jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                signing_key,
                algorithms=self._algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("JWKS fetch failed: %s", exc)
            raise AuthError("signing keys unavailable") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        raw_scopes = claims.get("scope", claims.get("scp", ""))
        scopes = raw_scopes.split() if isinstance(raw_scopes, str) else [str(s) for s in raw_scopes]
        subject = str(claims["sub"])
        client_id = claims.get("client_id") or claims.get("azp")
        try:
            groups = groups_from_claim(claims, self._groups_claim)
        except AuthError:
            groups = frozenset()
            logger.warning("token for %s carries a malformed %s claim; no groups taken", subject, self._groups_claim)
        return Principal(
            id=f"oauth/{subject}",
            kind="oauth",
            scopes=frozenset(scopes),
            client_id=str(client_id) if client_id else None,
            subject=subject,
            issuer=str(claims["iss"]),
            groups=groups,
        )
