"""Credentials from Secret Manager, and what authenticators share: the context they get and
small helpers to read fields of the secret."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import requests

from ingestion.contract import logs
from ingestion.contract.errors import ConfigError
from utils import secret_manager_helper


@dataclass
class AuthContext:
    """What an authenticator may use besides its spec: the secret, and for token endpoints the
    run's HTTP session and the API base URL."""

    project: str
    secret: dict
    secret_version: str = ""
    session: requests.Session | None = None
    base_url: str = ""
    timeout: tuple[float, float] = (10, 60)


def secret_value(ctx: AuthContext, key: str, spec: dict) -> str:
    if key not in ctx.secret:
        raise ConfigError(f"secret {spec['secret']!r} has no field {key!r} (auth type {spec['type']})")
    return str(ctx.secret[key])


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
