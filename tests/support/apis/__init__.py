"""Local HTTP simulators of real API styles, each holding its ground truth (`truth()`), so tests can
compare the loaded BigQuery table with what the API served."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

# The simulated "now": data ends before it, tests pass it to run_sync.
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def fake_credential(label: str) -> str:
    """A throwaway credential for a simulator, made up per test session: nothing real to leak."""
    return f"{label}-{secrets.token_urlsafe(12)}"


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class SimApi:
    """A werkzeug app: `route(request)` answers; every request is kept for assertions."""

    def __init__(self):
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.get_data()  # keep the body readable after the response
        with self.lock:
            self.requests.append(request)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def calls(self, path_part: str) -> list[Request]:
        return [r for r in self.requests if path_part in r.path]


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


class OAuthProvider:
    """A token endpoint: client credentials, and refresh tokens that rotate (the old one dies)."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str | None = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_tokens = {refresh_token} if refresh_token else set()
        self.access_tokens: set[str] = set()
        self.grants: list[str] = []
        self.lock = threading.Lock()

    def token(self, request: Request) -> Response:
        form = request.form
        client = basic_credentials(request) or (form.get("client_id"), form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            return json_response({"error": "invalid_client"}, 401)
        grant = request.form.get("grant_type", "")
        with self.lock:
            self.grants.append(grant)
            body: dict[str, Any] = {}
            if grant == "refresh_token":
                used = request.form.get("refresh_token")
                if used not in self.refresh_tokens:
                    return json_response({"error": "invalid_grant", "error_description": "dead token"}, 400)
                self.refresh_tokens.discard(used)
                body["refresh_token"] = new = "rt-" + secrets.token_hex(8)
                self.refresh_tokens.add(new)
            elif grant != "client_credentials":
                return json_response({"error": "unsupported_grant_type"}, 400)
            body.update(access_token="at-" + secrets.token_hex(8), token_type="bearer", expires_in=3600)
            self.access_tokens.add(body["access_token"])
        return json_response(body)

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.access_tokens

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()


def page_slice(rows: list, page: int, size: int) -> list:
    return rows[(page - 1) * size: page * size]


class ProtectedApi(SimApi):
    """`/token` of an OAuthProvider, and `/items` answering its records to a valid bearer only."""

    def __init__(self, provider: OAuthProvider, records: list | None = None):
        super().__init__()
        self.oauth, self.records = provider, records or [{"id": 1}]

    def route(self, request: Request) -> Response:
        if request.path == "/token":
            return self.oauth.token(request)
        if not self.oauth.authorized(request):
            return json_response({"error": "invalid_token"}, 401)
        return json_response({"data": self.records})
