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
from ingestion.source.httprequest import HttpRequest
from ingestion.source.registry import Registry
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


def load_secret(project: str, secret: str) -> tuple[dict, str]:
    """(the secret's latest version as a JSON object, that version's name). Its string values are
    registered for redaction from every log line."""
    raw, version = secret_manager_helper.access_secret_version(project, secret)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret!r} must hold a JSON object (its content is not shown)")
    for item in value.values():
        if isinstance(item, str):
            logs.register_secret(item)
    return value, version


AUTHENTICATORS = Registry("auth type")


class Authenticator:
    """Base of the auth types: each subclass sets `type` (it registers itself) and is built with
    the config's `auth` settings as named arguments. It adds credentials to each request (never to
    the stored request or a log line), lists the query parameters to redact from URLs, and may
    `refresh` once when the API answers 401."""

    type: str
    secret_params: tuple[str, ...] = ()
    rotates_secret = False  # writes new secret versions: deploy/ grants secretVersionManager
    refreshed_by = "a credential refresh"  # what `refresh` does, for the error of a second 401

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        AUTHENTICATORS.add(cls)

    def __init__(self, ctx: AuthContext, *, secret: str | None = None):
        self.ctx, self.secret = ctx, secret

    def apply(self, request: HttpRequest) -> None:
        raise NotImplementedError

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when the scheme has none to get."""
        return False

    def value(self, key: str) -> str:
        """Field `key` of the secret, or a ConfigError naming the secret and the field."""
        if key not in self.ctx.secret:
            raise ConfigError(f"secret {self.secret!r} has no field {key!r} (auth type {self.type})")
        return str(self.ctx.secret[key])
