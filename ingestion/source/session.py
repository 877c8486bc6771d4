"""The `session` auth type: log in with credentials from the secret (a form or JSON POST), take the
token from the response body, a header or a cookie, and send it with every request. A login may
also name a per-session base URL (Salesforce's `instance_url`): every request of the entity then
goes there instead of the config's `base_url`.

The session is shared by every run of the process (per login URL and credentials) until it nears
the lifetime the login gave, or else until the API answers 401: then one run logs in again.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ingestion.contract import logs
from ingestion.contract.errors import ApiError, ConfigError
from ingestion.contract.jsonpath import dig
from ingestion.contract.redact import redact
from ingestion.source.credentials import AuthContext
from ingestion.source.httprequest import HttpRequest
from ingestion.source.oauth import REFUSED_STATUSES, CachedToken, Token, TokenRejected, renew_margin
from utils import requests_api
from utils.requests_api import HttpStatusError


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def rebase(url: str, configured: str, session_base: str) -> str:
    """`url` moved from the config's base URL to the session's. A session URL without a path
    (Salesforce's `https://<instance>.my.salesforce.com`) keeps the config's path; one with a path
    replaces it. URLs under the config's host but outside its path (a root-relative next-page link)
    change host only; URLs on any other host (an absolute link the API returned) are left alone."""
    configured, target = configured.rstrip("/"), session_base.rstrip("/")
    if urlsplit(target).path in ("", "/"):
        target += urlsplit(configured).path.rstrip("/")
    if url == configured or url.startswith((configured + "/", configured + "?")):
        return target + url[len(configured):]
    origin = _origin(configured)
    if _origin(url) == origin:
        return _origin(target) + url[len(origin):]
    return url


class SessionAuth(CachedToken):
    """POST the `credentials` (login field → field of the secret) and `login_params` (constants) to
    `login_url`; send the token it returns as `<name>: <prefix><token>` (or a query parameter, or a
    cookie)."""

    type = "session"
    refreshed_by = "logging in again"

    def __init__(self, ctx: AuthContext, *, secret: str, login_url: str, body: str,
                 credentials: dict[str, str], login_params: dict[str, Any] | None = None,
                 token_path: str | None = None, token_header: str | None = None,
                 token_cookie: str | None = None, location: str, name: str, prefix: str,
                 base_url_path: str | None = None, expires_in_path: str | None = None, **common: Any):
        super().__init__(ctx, secret=secret, **common)
        if not login_url.startswith(("https://", "http://", "/")):  # a ${NAME} expanded to junk
            raise ConfigError(f"auth.login_url {login_url!r} is neither an http(s) URL nor a path")
        self.url = ctx.base_url.rstrip("/") + login_url if login_url.startswith("/") else login_url
        self.body, self.location, self.name, self.prefix = body, location, name, prefix
        self.token_path, self.token_header, self.token_cookie = token_path, token_header, token_cookie
        self.base_url_path, self.expires_in_path = base_url_path, expires_in_path
        self.secret_params = (name,) if location == "query" else ()
        sent = {field: self.value(key) for field, key in credentials.items()}
        for value in sent.values():  # the password: never in a log line, even if never loaded
            logs.register_secret(value)
        self.fields = {**(login_params or {}), **sent}
        digest = hashlib.sha256(json.dumps(self.fields, sort_keys=True, default=str).encode())
        self.key = (self.type, self.url, digest.hexdigest())

    def new_token(self) -> Token:
        """Log in; the token, when to log in again, and the session's base URL (if any)."""
        if self.body == "json":
            payload = HttpRequest("POST", self.url)
            for field, value in self.fields.items():  # a dotted field nests: credentials.name
                payload.set("body", field, value)
            sent: dict[str, Any] = {"json": payload.json}
        else:
            sent = {"data": self.fields}
        try:
            resp = requests_api.send(self.ctx.session, "POST", self.url,
                                     headers={"Accept": "application/json"},
                                     timeout=self.ctx.timeout, **sent)
        except HttpStatusError as exc:
            if exc.status in REFUSED_STATUSES:  # the body may echo what was sent: redacted
                raise TokenRejected(f"login at {exc.url} refused the credentials of secret "
                                    f"{self.secret!r} (HTTP {exc.status}): "
                                    f"{redact(exc.body_excerpt)}") from None
            raise  # 5xx / 429 after retries: transient; a 404 says the login_url is wrong
        body = self._json(resp) if self.token_path or self.base_url_path or self.expires_in_path else None
        token = (dig(body, self.token_path, None) if self.token_path
                 else resp.headers.get(self.token_header) if self.token_header
                 else resp.cookies.get(self.token_cookie))
        if not isinstance(token, str) or not token:
            where = (f"body path {self.token_path!r}" if self.token_path
                     else f"header {self.token_header!r}" if self.token_header
                     else f"cookie {self.token_cookie!r}")
            raise ApiError(f"login at {self.url} answered without a token ({where})")
        logs.register_secret(token)
        return Token(token, self._expires(body), {"base_url": self._base_url(body)})

    def _json(self, resp: requests.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ApiError(f"login at {self.url} answered HTTP {resp.status_code} without a JSON "
                           "body") from None

    def _base_url(self, body: Any) -> str | None:
        if not self.base_url_path:
            return None
        url = dig(body, self.base_url_path, None)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ApiError(f"login at {self.url}: base_url_path {self.base_url_path!r} is "
                           f"{url!r}, not an http(s) URL")
        return url

    def _expires(self, body: Any) -> float:
        lifetime = dig(body, self.expires_in_path, None) if self.expires_in_path else None
        if lifetime is None:
            return float("inf")  # no lifetime given (Salesforce): until the API answers 401
        try:
            lifetime = float(lifetime)
        except (TypeError, ValueError):
            raise ApiError(f"login at {self.url}: expires_in_path {self.expires_in_path!r} is "
                           f"{lifetime!r}, not a number of seconds") from None
        return time.time() + lifetime - renew_margin(lifetime)

    def authorize(self, request: HttpRequest) -> None:
        login = self.token()
        if login.response["base_url"]:
            request.url = rebase(request.url, self.ctx.base_url, login.response["base_url"])
        value = self.prefix + login.value
        if self.location == "query":
            request.params[self.name] = value
        elif self.location == "cookie":
            cookies = [request.headers.get("Cookie"), f"{self.name}={value}"]
            request.headers["Cookie"] = "; ".join(c for c in cookies if c)
        else:
            request.headers[self.name] = value
