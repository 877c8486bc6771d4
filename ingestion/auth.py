"""Authenticators: one small class per scheme, chosen by the config's `auth.type`.

Credentials come from Secret Manager as a JSON object; authenticators add them to each request and
list the query parameters that must be redacted wherever a URL is logged or stored.
"""

from __future__ import annotations

import base64
import json
from typing import Protocol

from ingestion import logs
from ingestion.errors import ConfigError
from ingestion.httprequest import HttpRequest
from utils import secret_manager_helper


class Authenticator(Protocol):
    secret_params: tuple[str, ...]

    def apply(self, request: HttpRequest) -> None: ...


class NoAuth:
    secret_params: tuple[str, ...] = ()

    def __init__(self, spec: dict, secret: dict):
        pass

    def apply(self, request: HttpRequest) -> None:
        pass


def _secret_value(secret: dict, key: str, spec: dict) -> str:
    if key not in secret:
        raise ConfigError(f"secret {spec['secret']!r} has no field {key!r} (auth type {spec['type']})")
    return str(secret[key])


class ApiKeyAuth:
    def __init__(self, spec: dict, secret: dict):
        self.location = spec.get("in", "header")
        self.name = spec["name"]
        self.value = spec.get("prefix", "") + _secret_value(secret, spec.get("value_key", "api_key"), spec)
        self.secret_params = (self.name,) if self.location == "query" else ()

    def apply(self, request: HttpRequest) -> None:
        if self.location == "query":
            request.params[self.name] = self.value
        else:
            request.headers[self.name] = self.value


class BearerAuth:
    secret_params: tuple[str, ...] = ()

    def __init__(self, spec: dict, secret: dict):
        self.token = _secret_value(secret, spec.get("token_key", "token"), spec)

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"


class BasicAuth:
    secret_params: tuple[str, ...] = ()

    def __init__(self, spec: dict, secret: dict):
        user = _secret_value(secret, spec.get("username_key", "username"), spec)
        password = _secret_value(secret, spec.get("password_key", "password"), spec)
        self.header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def apply(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = self.header


AUTHENTICATORS: dict[str, type] = {
    "none": NoAuth,
    "api_key": ApiKeyAuth,
    "bearer": BearerAuth,
    "basic": BasicAuth,
}


def load_secret(project: str, secret: str) -> dict:
    """The secret's latest version, which must be a JSON object. Its string values are registered
    for redaction from every log line."""
    raw = secret_manager_helper.access_secret(project, secret)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret!r} must hold a JSON object (its content is not shown)")
    for item in value.values():
        if isinstance(item, str):
            logs.register_secret(item)
    return value


def make_authenticator(spec: dict, project: str) -> Authenticator:
    secret = load_secret(project, spec["secret"]) if "secret" in spec else {}
    return AUTHENTICATORS[spec["type"]](spec, secret)
