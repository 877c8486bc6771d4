"""The static auth types — none, an API key, a bearer token, HTTP Basic — and how an entity's
authenticator is made. OAuth2 types live in ingestion/source/oauth.py; every type registers
itself in `AUTHENTICATORS` (ingestion/source/credentials.py).

Static credentials are read from the secret as they are; after a 401 they re-read the secret's
latest version (an operator may have rotated it) and the request is tried once more.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import requests

import ingestion.source.googleauth  # registers the google type
import ingestion.source.jwtauth  # registers the jwt and jwt_bearer types
import ingestion.source.session  # noqa: F401 - registers the session type
from ingestion.contract.errors import AuthError
from ingestion.contract.sections import Choice
from ingestion.source import oauth  # noqa: F401 - registers the OAuth2 types
from ingestion.source.credentials import (
    AUTHENTICATORS,
    AuthContext,
    Authenticator,
    basic_header,
    load_secret,
)
from ingestion.source.httprequest import HttpRequest
from utils.requests_api import HttpStatusError


class StaticAuth(Authenticator):
    """Credentials read from the secret as they are. After a 401, `refresh` re-reads the secret's
    latest version: a rotated key is picked up mid-run instead of failing it."""

    refreshed_by = "re-reading its latest version"

    def __init__(self, ctx: AuthContext, **settings):
        super().__init__(ctx, **settings)
        self.use()

    def use(self) -> None:
        """Take the credentials from the secret (at the start, and again after each re-read)."""

    def refresh(self) -> bool:
        if self.secret is None:
            return False
        values, version = load_secret(self.ctx.project, self.secret)
        self.ctx = replace(self.ctx, secret=values, secret_version=version)
        self.use()
        return True


class NoAuth(StaticAuth):
    type = "none"

    def authorize(self, request: HttpRequest) -> None:
        pass


class ApiKeyAuth(StaticAuth):
    type = "api_key"

    def __init__(self, ctx: AuthContext, *, secret: str, name: str, location: str, value_key: str,
                 prefix: str, **common: Any):
        self.name, self.location, self.value_key, self.prefix = name, location, value_key, prefix
        self.secret_params = (name,) if location == "query" else ()
        super().__init__(ctx, secret=secret, **common)

    def use(self) -> None:
        self.key = self.prefix + self.value(self.value_key)

    def authorize(self, request: HttpRequest) -> None:
        if self.location == "query":
            request.params[self.name] = self.key
        else:
            request.headers[self.name] = self.key


class BearerAuth(StaticAuth):
    type = "bearer"

    def __init__(self, ctx: AuthContext, *, secret: str, token_key: str, **common: Any):
        self.token_key = token_key
        super().__init__(ctx, secret=secret, **common)

    def use(self) -> None:
        self.token = self.value(self.token_key)

    def authorize(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"


class BasicAuth(StaticAuth):
    type = "basic"

    def __init__(self, ctx: AuthContext, *, secret: str, username_key: str, password_key: str,
                 **common: Any):
        self.username_key, self.password_key = username_key, password_key
        super().__init__(ctx, secret=secret, **common)

    def use(self) -> None:
        self.header = basic_header(self.value(self.username_key), self.value(self.password_key))

    def authorize(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = self.header


def make_authenticator(choice: Choice, project: str, session: requests.Session | None = None,
                       base_url: str = "", timeout: tuple[float, float] = (10, 60)) -> Authenticator:
    """The entity's authenticator, its secret's latest version read from Secret Manager."""
    secret = choice.options.get("secret")
    values, version = load_secret(project, secret) if secret else ({}, "")
    ctx = AuthContext(project, values, version, session, base_url, timeout)
    return AUTHENTICATORS.build(choice.type, ctx, **choice.options)


def refused(auth: Authenticator, exc: HttpStatusError) -> AuthError:
    """The permanent error of a 401/403 that came back after a refresh: it names the secret, never
    a value of it (the API's body is left out: it may echo the credentials)."""
    whose = f"secret {auth.secret!r}" if auth.secret else "the function's own identity"
    return AuthError(f"HTTP {exc.status} from {exc.url}: the API refused the credentials of {whose} "
                     f"even after {auth.refreshed_by}")
