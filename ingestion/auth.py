"""Authenticators: one small class per scheme, chosen by the config's `auth.type`.

Credentials come from Secret Manager as a JSON object; authenticators add them to each request
(never to the stored request or a log line), list the query parameters to redact from URLs, and may
`refresh` once when the API answers 401 (OAuth tokens expire mid-run).
"""

from __future__ import annotations

from typing import Protocol

import requests

from ingestion.credentials import AuthContext, basic_header, load_secret, secret_value
from ingestion.httprequest import HttpRequest
from ingestion.oauth import ClientCredentialsAuth, RefreshTokenAuth


class Authenticator(Protocol):
    secret_params: tuple[str, ...]
    # Optional class attribute `rotates_secret = True`: the scheme writes new secret versions, so
    # deploy/ grants the function secretVersionManager on that secret, not only secretAccessor.

    def apply(self, request: HttpRequest) -> None: ...

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when the scheme has none to get."""
        ...


class StaticAuth:
    """Credentials that never change during a run: nothing to refresh."""

    secret_params: tuple[str, ...] = ()

    def refresh(self) -> bool:
        return False


class NoAuth(StaticAuth):
    def __init__(self, spec: dict, ctx: AuthContext):
        pass

    def apply(self, request: HttpRequest) -> None:
        pass


class ApiKeyAuth(StaticAuth):
    def __init__(self, spec: dict, ctx: AuthContext):
        self.location = spec.get("in", "header")
        self.name = spec["name"]
        self.value = spec.get("prefix", "") + secret_value(ctx, spec.get("value_key", "api_key"), spec)
        self.secret_params = (self.name,) if self.location == "query" else ()

    def apply(self, request: HttpRequest) -> None:
        if self.location == "query":
            request.params[self.name] = self.value
        else:
            request.headers[self.name] = self.value


class BearerAuth(StaticAuth):
    def __init__(self, spec: dict, ctx: AuthContext):
        self.token = secret_value(ctx, spec.get("token_key", "token"), spec)

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"


class BasicAuth(StaticAuth):
    def __init__(self, spec: dict, ctx: AuthContext):
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
