"""Signed-JWT APIs, checking tokens the way the vendors do (PyJWT with the public key): a JWT bearer
token endpoint (Google's `oauth2.googleapis.com/token`, Salesforce's `/services/oauth2/token`) with
an API behind it, and App Store Connect, which takes the signed JWT itself as the bearer.

Keys are made per test with `cryptography` (RSA 2048, EC P-256); nothing is committed.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, fake_credential, json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


def new_key(algorithm: str = "RS256") -> tuple[str, Any]:
    """(a fresh private key as unencrypted PKCS#8 PEM, its public key)."""
    key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "RS256"
           else ec.generate_private_key(ec.SECP256R1()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def service_account_key(token_uri: str, pem: str) -> dict:
    """A Google service-account key file, shaped as the Cloud Console downloads it."""
    return {"type": "service_account", "project_id": "acme-analytics",
            "private_key_id": secrets.token_hex(20), "private_key": pem,
            "client_email": "ingest@acme-analytics.iam.gserviceaccount.com",
            "client_id": str(secrets.randbelow(10**21)), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri, "universe_domain": "googleapis.com"}


def write_key_file(path: Path, info: dict) -> str:
    path.write_text(json.dumps(info))
    return str(path)


def check(token: str, public_key: Any, kid: str | None, *, algorithm: str, issuer: str,
          audience: str | list[str], max_lifetime: int) -> dict:
    """The claims of `token` when its signature, kid, iss, aud, iat and exp are what the vendor
    accepts; else jwt.InvalidTokenError."""
    header = jwt.get_unverified_header(token)
    if header.get("kid") != kid or header.get("alg") != algorithm:
        raise jwt.InvalidTokenError(f"unknown key {header.get('kid')!r} / alg {header.get('alg')!r}")
    claims = jwt.decode(token, public_key, algorithms=[algorithm], audience=audience, issuer=issuer,
                        options={"require": ["iss", "aud", "exp", "iat"]})
    if claims["exp"] - claims["iat"] > max_lifetime:
        raise jwt.InvalidTokenError(f"lifetime {claims['exp'] - claims['iat']} s > {max_lifetime} s")
    return claims


class JwtBearerApi(SimApi):
    """`POST /token` trades a JWT bearer assertion signed with the registered key for an access
    token; `/items` pages (`?page=`) answer to a live access token only. `style` is "google"
    (expires_in, scope claim required) or "salesforce" (sub required, no expires_in, instance_url)."""

    def __init__(self, public_key: Any, kid: str | None, issuer: str, *, algorithm: str = "RS256",
                 audience: str | None = None, style: str = "google", max_lifetime: int = 3600,
                 subject: str | None = None, records: int = 3):
        super().__init__()
        self.public_key, self.kid, self.issuer, self.algorithm = public_key, kid, issuer, algorithm
        self.audience, self.style, self.max_lifetime, self.subject = audience, style, max_lifetime, subject
        self.records = [{"id": i} for i in range(1, records + 1)]
        self.tokens: set[str] = set()
        self.assertions: list[dict] = []  # the verified claims of each exchange
        self.url = ""  # set once served: the default audience is the token URL

    def route(self, request: Request) -> Response:
        if request.path == "/token":
            return self.token(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return json_response([{"message": "Session expired or invalid",
                                   "errorCode": "INVALID_SESSION_ID"}], 401)
        page = int(request.args.get("page", 1))
        return json_response({"data": self.records[(page - 1) * 2: page * 2]})

    def token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != JWT_BEARER:
            return json_response({"error": "unsupported_grant_type"}, 400)
        try:
            claims = check(form.get("assertion", ""), self.public_key, self.kid, algorithm=self.algorithm,
                           issuer=self.issuer, audience=self.audiences(), max_lifetime=self.max_lifetime)
        except jwt.InvalidTokenError as exc:
            return json_response({"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, 400)
        if self.style == "google" and "scope" not in claims:
            return json_response({"error": "invalid_scope",
                                  "error_description": "Empty or missing scope not allowed."}, 400)
        if self.subject and claims.get("sub") != self.subject:
            return json_response({"error": "invalid_grant", "error_description": "user hasn't approved"}, 400)
        token = fake_credential("at")
        with self.lock:
            self.assertions.append(claims)
            self.tokens.add(token)
        if self.style == "salesforce":
            return json_response({"access_token": token, "instance_url": "https://acme.my.salesforce.com",
                                  "id": "https://login.salesforce.com/id/00D/005", "token_type": "Bearer",
                                  "scope": "api"})
        return json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def audiences(self) -> list[str]:
        """Google's: its token URL (google-auth always signs for it), or this server's, which
        stands in for it (the token_uri of the test's key)."""
        if self.audience:
            return [self.audience]
        return [GOOGLE_TOKEN_URL, self.url + "/token"]

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()


class AppStoreConnectApi(SimApi):
    """App Store Connect: every request carries `Authorization: Bearer <jwt>` signed with ES256 by
    the registered key (`kid`), `iss` the issuer id, `aud` appstoreconnect-v1, at most 20 minutes;
    tokens seen before `revoke()` are refused. `/v1/apps` pages through `links.next`."""

    def __init__(self, public_key: Any, kid: str, issuer_id: str, apps: int = 5):
        super().__init__()
        self.public_key, self.kid, self.issuer_id = public_key, kid, issuer_id
        self.apps = [{"type": "apps", "id": str(1000 + i), "attributes": {"name": f"App {i}"}}
                     for i in range(apps)]
        self.revoked: set[str] = set()
        self.tokens_seen: dict[str, dict] = {}  # token → its verified claims

    def route(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = check(token, self.public_key, self.kid, algorithm="ES256",
                           issuer=self.issuer_id, audience="appstoreconnect-v1", max_lifetime=1200)
            if token in self.revoked:
                raise jwt.InvalidTokenError("revoked")
        except jwt.InvalidTokenError:
            return json_response({"errors": [{
                "status": "401", "code": "NOT_AUTHORIZED",
                "title": "Authentication credentials are missing or invalid.",
                "detail": "Provide a properly configured and signed bearer token, and make sure "
                          "that it has not expired."}]}, 401)
        with self.lock:
            self.tokens_seen[token] = claims
        offset = int(request.args.get("cursor", 0))
        body: dict = {"data": self.apps[offset: offset + 2], "links": {"self": request.url}}
        if offset + 2 < len(self.apps):
            body["links"]["next"] = f"{request.host_url.rstrip('/')}/v1/apps?cursor={offset + 2}&limit=2"
        return json_response(body)

    def revoke(self) -> None:
        """Refuse every token seen so far (as Apple does once a token has expired on its clock)."""
        with self.lock:
            self.revoked |= set(self.tokens_seen)
