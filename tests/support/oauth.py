"""A local OAuth issuer for tests: an RSA key, its JWKS served over loopback, and a token minter."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.fake_http import FakeAPI

ISSUER = "https://idp.warden.test"
AUDIENCE = "https://mcp.warden.test/mcp"


@dataclass
class Issuer:
    api: FakeAPI
    key: rsa.RSAPrivateKey
    kid: str

    @property
    def jwks_url(self) -> str:
        return f"{self.api.url}/jwks.json"

    def mint(self, *, scope: str = "", headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "client_id": "cli"}
        if scope:
            payload["scope"] = scope
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        header = {"kid": self.kid, **(headers or {})}
        return jwt.encode(payload, key or self.key, algorithm=header.pop("alg", "RS256"), headers=header)


@contextmanager
def local_issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:8]
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    api = FakeAPI()
    api.route("GET", "/jwks.json")(lambda request, match: {"keys": [public]})
    with api.serving():
        yield Issuer(api=api, key=key, kid=kid)
