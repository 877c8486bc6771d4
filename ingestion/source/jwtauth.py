"""Auth types that sign a JWT with a private key from the secret (RS256 or ES256, PyJWT):

- `jwt_bearer` (RFC 7523): the signed assertion is exchanged at a token endpoint for an access token
  (Google service-account keys, as downloaded, for Google APIs; Salesforce's JWT bearer flow);
- `jwt`: the signed token is itself the bearer, no exchange (App Store Connect).

Either token is shared by every run of the process until shortly before it expires, and renewed
after a 401 (ingestion/source/oauth.py `CachedToken`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from ingestion.contract import logs
from ingestion.contract.errors import ConfigError
from ingestion.source.credentials import AuthContext, Authenticator
from ingestion.source.oauth import CachedToken, Token, TokenEndpoint, renew_margin

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class SignsJwt(Authenticator):
    """The key and the standard claims of the JWTs an auth type mints. A literal setting (`issuer`,
    `subject`, `key_id`) wins over the field of the secret its `*_key` names; a `key_id_key` field
    the secret lacks means no `kid` header."""

    def __init__(self, ctx: AuthContext, *, secret: str, private_key_key: str, algorithm: str,
                 issuer_key: str, lifetime_seconds: int, issuer: str | None = None,
                 subject: str | None = None, subject_key: str | None = None,
                 audience: str | None = None, key_id: str | None = None,
                 key_id_key: str | None = None, claims: dict[str, Any] | None = None, **settings):
        super().__init__(ctx, secret=secret, **settings)
        self.algorithm, self.lifetime, self.audience = algorithm, lifetime_seconds, audience
        self.pem = self.value(private_key_key).replace("\\n", "\n")  # pasted with escaped newlines
        self.private_key = self._load_key(private_key_key)
        self.issuer = issuer or self.value(issuer_key)
        self.subject = subject or (self.value(subject_key) if subject_key else None)
        self.key_id = key_id or (self.ctx.secret.get(key_id_key) if key_id_key else None)
        self.claims = claims or {}

    def _load_key(self, field: str) -> Any:
        """The private key, checked against the algorithm now (a wrong key fails before any call)."""
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        where = f"field {field!r} of secret {self.secret!r} (auth type {self.type})"
        try:
            key = load_pem_private_key(self.pem.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError(f"{where} is not an unencrypted PEM private key") from None
        fits = (isinstance(key, rsa.RSAPrivateKey) if self.algorithm == "RS256"
                else isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1")
        if not fits:
            wanted = "an RSA key" if self.algorithm == "RS256" else "an EC P-256 key"
            raise ConfigError(f"{where} is not {wanted}, which algorithm {self.algorithm} needs")
        return key

    def fingerprint(self) -> tuple:
        """What a token minted with this key depends on (the cache key's tail)."""
        return (self.issuer, self.subject, self.audience, self.key_id,
                json.dumps(self.claims, sort_keys=True, default=str),
                hashlib.sha256(self.pem.encode()).hexdigest())

    def mint(self, **claims: Any) -> str:
        """A signed JWT, valid for `lifetime_seconds` from now."""
        import jwt

        now = int(time.time())
        payload = {"iss": self.issuer, "iat": now, "exp": now + self.lifetime, **self.claims,
                   **claims}
        for name, value in (("sub", self.subject), ("aud", self.audience)):
            if value:
                payload[name] = value
        headers = {"typ": "JWT", **({"kid": str(self.key_id)} if self.key_id else {})}
        signed = jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers=headers)
        logs.register_secret(signed)
        return signed


class JwtBearerAuth(CachedToken, SignsJwt, TokenEndpoint):
    """RFC 7523 JWT bearer grant. The defaults read a Google service-account key as downloaded:
    `client_email` is the issuer, `private_key_id` the `kid`, `token_uri` the token endpoint and
    the audience; the scope is a claim of the assertion, as Google wants it."""

    type = "jwt_bearer"
    refreshed_by = "exchanging a new assertion"

    def __init__(self, ctx: AuthContext, *, secret: str, token_url: str | None = None,
                 audience: str | None = None, scope: str | None = None, **settings):
        token_url = token_url or ctx.secret.get("token_uri")
        if not token_url:
            raise ConfigError(f"auth type jwt_bearer needs token_url: secret {secret!r} has no "
                              "token_uri field either")
        super().__init__(ctx, secret=secret, token_url=token_url, **settings)
        self.audience = audience or self.url
        self.scope = scope
        self.key = (self.type, self.url, self.scope, tuple(sorted(self.token_params.items())),
                    *self.fingerprint())

    def new_token(self) -> Token:
        # jti: assertions are single-use; some providers (Box) require a unique id
        assertion = self.mint(jti=secrets.token_urlsafe(16),
                                 **({"scope": self.scope} if self.scope else {}))
        return Token.granted(self.post_token({"grant_type": JWT_BEARER_GRANT, "assertion": assertion}))

    @property
    def token_response(self) -> dict:
        """The token endpoint's answer for the token in use (Salesforce: `instance_url`, `id`)."""
        return self.token().response


class JwtAuth(CachedToken, SignsJwt):
    """A self-signed JWT sent as `Authorization: Bearer <jwt>` (App Store Connect: ES256, `kid`,
    `iss` the issuer id, `aud` appstoreconnect-v1, at most 20 minutes); minted anew shortly before
    it expires and after a 401."""

    type = "jwt"
    refreshed_by = "signing a new token"

    def __init__(self, ctx: AuthContext, **settings):
        super().__init__(ctx, **settings)
        self.key = (self.type, *self.fingerprint())

    def new_token(self) -> Token:
        return Token(self.mint(), time.time() + self.lifetime - renew_margin(self.lifetime))
