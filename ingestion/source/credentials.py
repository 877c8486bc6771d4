"""Credentials from Secret Manager, and what authenticators share: the context they get and
small helpers to read fields of the secret."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import requests

from ingestion.contract import logs
from ingestion.contract.errors import ConfigError
from ingestion.contract.registry import Registry
from ingestion.source.httprequest import HttpRequest
from utils import secret_manager_helper


@dataclass
class AuthContext:
    """What an authenticator may use besides its settings: the secret's values, and for token
    endpoints the run's HTTP session and the API base URL."""

    project: str
    secret: dict
    secret_version: str = ""
    session: requests.Session | None = None
    base_url: str = ""
    timeout: tuple[float, float] = (10, 60)


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# The fields of a Google credentials file (a service-account key as downloaded) that are no
# credential: masking them would blank `googleapis.com` or `service_account` in logs and raw pages.
_GOOGLE_PUBLIC_FIELDS = frozenset({
    "type", "project_id", "client_email", "client_id", "auth_uri", "token_uri", "universe_domain",
    "auth_provider_x509_cert_url", "client_x509_cert_url", "quota_project_id",
})
_GOOGLE_CREDENTIAL_TYPES = frozenset({"service_account", "authorized_user", "external_account"})


def load_secret(project: str, secret: str) -> tuple[dict, str]:
    """(the secret's latest version as a JSON object, that version's name). Its string values are
    registered for redaction from every log line (for a Google credentials file, its credentials:
    the private key, client secret, refresh token)."""
    raw, version = secret_manager_helper.access_secret_version(project, secret)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret!r} must hold a JSON object (its content is not shown)")
    public = _GOOGLE_PUBLIC_FIELDS if value.get("type") in _GOOGLE_CREDENTIAL_TYPES else frozenset()
    for key, item in value.items():
        if isinstance(item, str) and key not in public:
            logs.register_secret(item)
    return value, version


AUTHENTICATORS = Registry("auth type")


class Authenticator:
    """Base of the auth types: each subclass sets `type` (it registers itself) and is built with
    the config's `auth` settings as named arguments. It adds credentials to each request (never to
    the stored request or a log line), lists the query parameters to redact from URLs, and may
    `refresh` once when the API answers 401.

    Every auth type also takes `secret_headers` (header name → field of the secret: Google Ads'
    `developer-token` next to its OAuth bearer), handled here once: subclasses pass it on to this
    `__init__` (with `**common`) and implement `authorize`; `apply` adds the headers after it."""

    type: str
    secret_params: tuple[str, ...] = ()
    rotates_secret = False  # writes new secret versions: deploy/ grants secretVersionManager
    refreshed_by = "a credential refresh"  # what `refresh` does, for the error of a second 401
    _header_values: tuple[dict, dict[str, str]] | None = None  # (the secret read, its headers)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        AUTHENTICATORS.add(cls)

    def __init__(self, ctx: AuthContext, *, secret: str | None = None,
                 secret_headers: dict[str, str] | None = None):
        self.ctx, self.secret, self.secret_headers = ctx, secret, dict(secret_headers or {})
        self.header_values()  # a missing field fails when the authenticator is made

    def apply(self, request: HttpRequest) -> None:
        """Add the credentials, then the `secret_headers`."""
        self.authorize(request)
        request.headers.update(self.header_values())

    def authorize(self, request: HttpRequest) -> None:
        raise NotImplementedError

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when the scheme has none to get."""
        return False

    def value(self, key: str) -> str:
        """Field `key` of the secret, or a ConfigError naming the secret and the field."""
        if key not in self.ctx.secret:
            raise ConfigError(f"secret {self.secret!r} has no field {key!r} (auth type {self.type})")
        return str(self.ctx.secret[key])

    def header_values(self) -> dict[str, str]:
        """The `secret_headers`, read from the secret in use (a secret re-read after a 401 gives
        new values) and registered for redaction, numbers included."""
        if self._header_values is None or self._header_values[0] is not self.ctx.secret:
            if self.secret_headers and not self.secret:
                raise ConfigError(f"auth.secret_headers needs auth.secret (auth type {self.type})")
            values = {name: self.value(key) for name, key in self.secret_headers.items()}
            for value in values.values():
                logs.register_secret(value)
            self._header_values = (self.ctx.secret, values)
        return self._header_values[1]
