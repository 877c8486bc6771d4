"""OAuth2 authenticators: client credentials (token cached per process until it expires) and
refresh token (for providers that rotate the refresh token: every new token set is written back to
Secret Manager as a new version, and the superseded version destroyed). Also what other token-based
types share (ingestion/source/jwtauth.py, googleauth.py): the token request and the token cache."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ingestion.contract import logs
from ingestion.contract.errors import ApiError, AuthError
from ingestion.contract.redact import redact
from ingestion.source.credentials import AuthContext, Authenticator, basic_header, load_secret
from ingestion.source.httprequest import HttpRequest
from utils import requests_api, secret_manager_helper
from utils.requests_api import HttpStatusError

log = logging.getLogger("ingestion.source.oauth")
REFUSED_STATUSES = (400, 401, 403)


def renew_margin(lifetime: float) -> float:
    """Renew a little before expiry so a token never lapses mid-request."""
    return min(60.0, lifetime / 10)


@dataclass(frozen=True)
class Token:
    """A bearer token, when to renew it, and the token endpoint's whole answer (Salesforce's
    `instance_url` comes with the token)."""

    value: str
    renew_at: float  # epoch seconds
    response: dict = field(default_factory=dict)

    @classmethod
    def granted(cls, response: dict) -> Token:
        """From a token endpoint's answer; without `expires_in`, assume an hour (a 401 renews it)."""
        lifetime = float(response.get("expires_in") or 3600)
        return cls(response["access_token"], time.time() + lifetime - renew_margin(lifetime), response)


class CachedToken(Authenticator):
    """A bearer token shared by every run of the process (per `key`) until it nears expiry. After a
    401 a new one is got, unless another thread already replaced the one this thread sent."""

    _cache: ClassVar[dict[tuple, Token]] = {}  # per process: warm instances reuse it
    _lock = threading.Lock()
    key: tuple  # what the token depends on; starts with the type name

    def __init__(self, ctx: AuthContext, **settings):
        super().__init__(ctx, **settings)
        self.sent = threading.local()

    def new_token(self) -> Token:
        raise NotImplementedError

    def token(self) -> Token:
        with self._lock:
            token = self._cache.get(self.key)
            if token is None or time.time() >= token.renew_at:
                token = self._cache[self.key] = self.new_token()
        self.sent.value = token.value
        return token

    def authorize(self, request: HttpRequest) -> None:
        request.headers["Authorization"] = f"Bearer {self.token().value}"

    def refresh(self) -> bool:
        with self._lock:
            token = self._cache.get(self.key)
            if token is None or token.value == getattr(self.sent, "value", None):
                self._cache[self.key] = self.new_token()
        return True


class TokenEndpoint(Authenticator):
    """A token endpoint: the form POST, its refusals (permanent) and the tokens it answers
    (registered for redaction)."""

    def __init__(self, ctx: AuthContext, *, secret: str, token_url: str,
                 token_params: dict | None = None, **common: Any):
        super().__init__(ctx, secret=secret, **common)
        self.url = token_url if urlsplit(token_url).scheme else ctx.base_url.rstrip("/") + token_url
        self.token_params = token_params or {}

    def post_token(self, form: dict, headers: dict | None = None) -> dict:
        form = {**form, **self.token_params}
        try:
            resp = requests_api.send(self.ctx.session, "POST", self.url, data=form,
                                     headers={"Accept": "application/json", **(headers or {})},
                                     timeout=self.ctx.timeout)
        except HttpStatusError as exc:
            if exc.status in REFUSED_STATUSES:  # the body may echo what was sent: redacted
                raise TokenRejected(f"token endpoint {exc.url} refused the {form['grant_type']} grant "
                                    f"of secret {self.secret!r} (HTTP {exc.status}): "
                                    f"{redact(exc.body_excerpt)}") from None
            raise  # 5xx / 429 after retries: transient
        try:
            tokens = resp.json()
            logs.register_secret(tokens["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(f"token endpoint {self.url} answered without an access_token") from None
        if tokens.get("refresh_token"):
            logs.register_secret(tokens["refresh_token"])
        return tokens


class OAuth2(TokenEndpoint):
    """What both grants share: the token endpoint and how the client authenticates to it."""

    def __init__(self, ctx: AuthContext, *, client_auth: str, client_id_key: str,
                 client_secret_key: str, scope: str | None = None, **endpoint):
        super().__init__(ctx, **endpoint)
        self.client_auth, self.scope = client_auth, scope
        self.client_id_key, self.client_secret_key = client_id_key, client_secret_key

    def request_token(self, form: dict) -> dict:
        """POST the token request; the client id/secret go in a Basic header or in the form."""
        client_id = self.value(self.client_id_key)
        client_secret = self.ctx.secret.get(self.client_secret_key)
        form = {**form, "scope": self.scope} if self.scope else dict(form)
        headers = {}
        if self.client_auth == "basic" and client_secret is not None:
            headers["Authorization"] = basic_header(client_id, str(client_secret))
        else:
            form["client_id"] = client_id
            if client_secret is not None:
                form["client_secret"] = str(client_secret)
        return self.post_token(form, headers)


class TokenRejected(AuthError):
    """The token endpoint refused the credentials (invalid_client, invalid_grant…)."""


class ClientCredentialsAuth(CachedToken, OAuth2):
    """`grant_type=client_credentials`; the token is shared by every run in the process until it
    nears expiry, and fetched anew after a 401."""

    type = "oauth2_client_credentials"

    def __init__(self, ctx: AuthContext, **settings):
        super().__init__(ctx, **settings)
        self.key = (self.type, self.url, self.value(self.client_id_key), self.scope,
                    tuple(sorted(self.token_params.items())))

    def new_token(self) -> Token:
        return Token.granted(self.request_token({"grant_type": "client_credentials"}))


class RefreshTokenAuth(OAuth2):
    """`grant_type=refresh_token`. The secret holds the token set (refresh_token, and after the first
    refresh access_token and expires_at); a still-valid access token in it is used as is. When the
    provider answers invalid_grant because another instance already rotated the refresh token, the
    latest secret version is re-read and used instead."""

    type = "oauth2_refresh_token"
    rotates_secret = True  # adds token-set versions and destroys old ones (deploy grants that)

    def __init__(self, ctx: AuthContext, *, refresh_token_key: str, **settings):
        super().__init__(ctx, **settings)
        self.rt_key = refresh_token_key
        self.value(self.rt_key)
        self.tokens, self.version = dict(ctx.secret), ctx.secret_version
        self.lock = threading.Lock()

    def _valid(self) -> bool:
        expires_at = float(self.tokens.get("expires_at") or 0)
        return bool(self.tokens.get("access_token")) and time.time() < expires_at

    def authorize(self, request: HttpRequest) -> None:
        with self.lock:
            if not self._valid():
                self._renew()
            token = self.tokens["access_token"]
        request.headers["Authorization"] = f"Bearer {token}"

    def refresh(self) -> bool:
        with self.lock:
            self._renew()
        return True

    def _renew(self, adopted: bool = False) -> None:
        used = self.tokens[self.rt_key]
        try:
            got = self.request_token({"grant_type": "refresh_token", "refresh_token": used})
        except TokenRejected as exc:
            latest, version = load_secret(self.ctx.project, self.secret)
            if adopted or latest.get(self.rt_key) == used:
                raise AuthError(f"{exc}. Authorize again and store the new token set in secret "
                                f"{self.secret!r}") from None
            log.info("the refresh token was rotated by another run; using the latest secret version")
            self.tokens, self.version = latest, version
            if not self._valid():
                self._renew(adopted=True)
            return
        lifetime = float(got.get("expires_in") or 3600)
        self.tokens = {**self.tokens, "access_token": got["access_token"],
                       "expires_at": int(time.time() + lifetime - renew_margin(lifetime)),
                       self.rt_key: got.get("refresh_token") or used}
        self._write_back()

    def _write_back(self) -> None:
        """Store the new token set as the latest version, then destroy the one it supersedes (old
        refresh tokens are dead, and every enabled version is billed)."""
        name = secret_manager_helper.add_secret_version(self.ctx.project, self.secret,
                                                        json.dumps(self.tokens))
        if self.version:
            try:
                secret_manager_helper.destroy_secret_version(self.version)
            except Exception as exc:  # another run may have destroyed it already
                log.warning("could not destroy superseded version %s: %s", self.version, exc)
        self.version = name
