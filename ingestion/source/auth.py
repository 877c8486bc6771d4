"""Authenticators: one small class per scheme, chosen by the config's `auth.type`.

Credentials come from Secret Manager as a JSON object; authenticators add them to each request
(never to the stored request or a log line), list the query parameters to redact from URLs, and may
`refresh` once when the API answers 401: static credentials re-read the secret's latest version (an
operator may have rotated it), OAuth schemes get a new token.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import requests

from ingestion.contract.errors import AuthError
from ingestion.source.credentials import AuthContext, basic_header, load_secret, secret_value
from ingestion.source.httprequest import HttpRequest
from ingestion.source.oauth import ClientCredentialsAuth, RefreshTokenAuth
from utils.requests_api import HttpStatusError


class Authenticator(Protocol):
    spec: dict
    secret_params: tuple[str, ...]
    # Optional class attribute `rotates_secret = True`: the scheme writes new secret versions, so
    # deploy/ grants the function secretVersionManager on that secret, not only secretAccessor.
    # Optional class attribute `refreshed_by`: what `refresh` does, for the error of a second 401.

    def apply(self, request: HttpRequest) -> None: ...

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when the scheme has none to get."""
        ...


class StaticAuth:
    """Credentials read from the secret as they are. After a 401, `refresh` re-reads the secret's
    latest version: a rotated key is picked up mid-run instead of failing it."""

    secret_params: tuple[str, ...] = ()
    refreshed_by = "re-reading its latest version"

    def __init__(self, spec: dict, ctx: AuthContext):
        self.spec, self.ctx = spec, ctx
        self.use(ctx)

    def use(self, ctx: AuthContext) -> None:
        """Take the credentials from `ctx.secret` (at the start, and again after each re-read)."""

    def refresh(self) -> bool:
        if "secret" not in self.spec:
            return False
        secret, version = load_secret(self.ctx.project, self.spec["secret"])
        self.ctx = replace(self.ctx, secret=secret, secret_version=version)
        self.use(self.ctx)
        return True


class NoAuth(StaticAuth):
    def apply(self, request: HttpRequest) -> None:
        pass


class ApiKeyAuth(StaticAuth):
    def __init__(self, spec: dict, ctx: AuthContext):
        self.location, self.name = spec.get("in", "header"), spec["name"]
        self.secret_params = (self.name,) if self.location == "query" else ()
        super().__init__(spec, ctx)

    def use(self, ctx: AuthContext) -> None:
        spec = self.spec
        self.value = spec.get("prefix", "") + secret_value(ctx, spec.get("value_key", "api_key"), spec)

    def apply(self, request: HttpRequest) -> None:
        if self.location == "query":
            request.params[self.name] = self.value
        else:
            request.headers[self.name] = self.value


class BearerAuth(StaticAuth):
    def use(self, ctx: AuthContext) -> None:
        self.token = secret_value(ctx, self.spec.get("token_key", "token"), self.spec)

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"


class BasicAuth(StaticAuth):
    def use(self, ctx: AuthContext) -> None:
        spec = self.spec
        self.header = basic_header(secret_value(ctx, spec.get("username_key", "username"), spec),
                                   secret_value(ctx, spec.get("password_key", "password"), spec))

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = self.header


AUTHENTICATORS: dict[str, type] = {
    "none": NoAuth,
    "api_key": ApiKeyAuth,
    "bearer": BearerAuth,
    "basic": BasicAuth,
    "oauth2_client_credentials": ClientCredentialsAuth,
    "oauth2_refresh_token": RefreshTokenAuth,
}


def make_authenticator(spec: dict, project: str, session: requests.Session | None = None,
                       base_url: str = "", timeout: tuple[float, float] = (10, 60)) -> Authenticator:
    secret, version = load_secret(project, spec["secret"]) if "secret" in spec else ({}, "")
    ctx = AuthContext(project, secret, version, session, base_url, timeout)
    return AUTHENTICATORS[spec["type"]](spec, ctx)


def refused(auth: Authenticator, exc: HttpStatusError) -> AuthError:
    """The permanent error of a 401/403 that came back after a refresh: it names the secret, never
    a value of it (the API's body is left out: it may echo the credentials)."""
    how = getattr(auth, "refreshed_by", "a credential refresh")
    return AuthError(f"HTTP {exc.status} from {exc.url}: the API refused the credentials of secret "
                     f"{auth.spec['secret']!r} even after {how}")
