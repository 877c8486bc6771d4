"""The `google` auth type: an access token for Google APIs from google-auth.

Without a secret (the preferred way on Google Cloud) it is the function's own identity, through
Application Default Credentials: the runtime service account on Cloud Functions, or the file
GOOGLE_APPLICATION_CREDENTIALS names. A secret that is a Google credentials file (a service-account
key as downloaded: its `type` field says which kind) is used instead, when the API needs another
identity; a secret without a `type` field only feeds `secret_headers` (Google Ads' developer token)
and leaves the identity to ADC. The token is shared by every run of the process until shortly
before it expires, and renewed after a 401.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC
from typing import Any

from ingestion.contract import logs
from ingestion.contract.errors import ConfigError, RetryableError
from ingestion.contract.redact import redact
from ingestion.source.credentials import AuthContext
from ingestion.source.httprequest import HttpRequest
from ingestion.source.oauth import CachedToken, Token, TokenRejected, renew_margin


class GoogleAuth(CachedToken):
    type = "google"
    refreshed_by = "getting a new Google access token"

    def __init__(self, ctx: AuthContext, *, scope: str, secret: str | None = None,
                 subject: str | None = None, quota_project: str | None = None, **common: Any):
        super().__init__(ctx, secret=secret, **common)
        self.scopes, self.subject, self.quota_project = scope.split(), subject, quota_project
        self.info = ctx.secret if "type" in ctx.secret else None
        identity = (hashlib.sha256(json.dumps(self.info, sort_keys=True).encode()).hexdigest()
                    if self.info else ("adc", os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")))
        self.identity = (f"the credentials in secret {secret!r}" if self.info
                         else "Application Default Credentials")
        self.key = (self.type, identity, tuple(self.scopes), subject)

    def _credentials(self) -> Any:
        import google.auth

        if self.info:
            creds, _ = google.auth.load_credentials_from_dict(self.info, scopes=self.scopes)
        else:
            creds, _ = google.auth.default(scopes=self.scopes)
        if self.subject:
            if not hasattr(creds, "with_subject"):
                raise ConfigError(f"auth.subject (domain-wide delegation) needs a service-account key; "
                                  f"{self.identity} are {type(creds).__module__}.{type(creds).__name__}")
            creds = creds.with_subject(self.subject)
        return creds

    def new_token(self) -> Token:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        try:
            creds = self._credentials()
            creds.refresh(Request(self.ctx.session) if self.ctx.session else Request())
        except exceptions.DefaultCredentialsError as exc:
            raise ConfigError(f"auth type google: no usable {self.identity}: {redact(str(exc))}") from None
        except exceptions.RefreshError as exc:
            message = f"Google refused a token for {self.identity} (scope {' '.join(self.scopes)!r}): "
            if exc.retryable:
                raise RetryableError(message + redact(str(exc))) from None
            raise TokenRejected(message + redact(str(exc))) from None
        except exceptions.TransportError as exc:
            raise RetryableError(f"Google token request for {self.identity} failed: "
                                 f"{redact(str(exc))}") from None
        logs.register_secret(creds.token)
        expires = creds.expiry.replace(tzinfo=UTC).timestamp() if creds.expiry else time.time() + 3600
        lifetime = max(0.0, expires - time.time())
        return Token(creds.token, expires - renew_margin(lifetime))

    def authorize(self, request: HttpRequest) -> None:
        super().authorize(request)
        if self.quota_project:  # bills the API's quota to this project (user credentials need it)
            request.headers["x-goog-user-project"] = self.quota_project
