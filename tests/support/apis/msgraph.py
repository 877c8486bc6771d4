"""Microsoft Graph v1.0 security alerts behind the Microsoft identity platform, written from
Microsoft's documentation.

`EntraLogin` stands in for `https://login.microsoftonline.com`: `POST /{tenant}/oauth2/v2.0/token`
with a form `client_id`, `client_secret`, `scope` (`https://graph.microsoft.com/.default` for an
app-only token) and `grant_type=client_credentials`, answered with `token_type`, `expires_in`,
`ext_expires_in`, `access_token`. Refusals are OAuth errors with an `AADSTS` code in
`error_description` and `error_codes`: an unknown tenant (400 `invalid_request`, AADSTS90002), no
`scope` (400 `invalid_request`, AADSTS900144), a scope without `/.default` (400 `invalid_scope`,
AADSTS1002012), an unknown application (400 `unauthorized_client`, AADSTS700016), a wrong secret
(401 `invalid_client`, AADSTS7000215).

`GraphSecurity` is `graph.microsoft.com`: `GET /v1.0/security/alerts_v2` (List alerts_v2) with
`$filter` on `createdDateTime` / `lastUpdateDateTime` (comparisons `eq`, `ge`, `gt`, `le`, `lt`
against unquoted DateTimeOffset literals, joined by `and`) and `$top`; it answers
`{"@odata.context", "value": [...], "@odata.nextLink"}`, the absolute next link carrying `$filter`,
`$top` and a `$skiptoken`; each alert has `"@odata.type": "#microsoft.graph.security.alert"`, its
evidence items their own `@odata.type`, and timestamps with 7 fractional digits. Errors are Graph's
`{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`: 401
`InvalidAuthenticationToken` without a live token, 400 `BadRequest` for a filter it cannot apply,
and 429 `TooManyRequests` with `Retry-After` (seconds) when `throttle_pages` says so.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response

SCOPE = "https://graph.microsoft.com/.default"
ALERTS = "/v1.0/security/alerts_v2"
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2"
MAX_TOP = 2000
_FILTERABLE = {"createdDateTime", "lastUpdateDateTime"}
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ge|gt|le|lt)\s+(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d))\s*$")
_OPS = {"eq": lambda a, b: a == b, "ge": lambda a, b: a >= b, "gt": lambda a, b: a > b,
        "le": lambda a, b: a <= b, "lt": lambda a, b: a < b}
EVIDENCE = ("#microsoft.graph.security.deviceEvidence", "#microsoft.graph.security.fileEvidence",
            "#microsoft.graph.security.processEvidence", "#microsoft.graph.security.userEvidence")


def graph_time(value: datetime, extra_digit: int = 0) -> str:
    """Graph's DateTimeOffset: 7 fractional digits, `Z` (the 7th is below a microsecond)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{extra_digit}Z"


def graph_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
             "client-request-id": str(uuid.uuid4())}
    return json_response({"error": {"code": code, "message": message, "innerError": inner}}, status, headers)


def aad_error(status: int, error: str, code: int, text: str) -> Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return json_response({"error": error,
                          "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
                                               f"{correlation} Timestamp: {stamp}",
                          "error_codes": [code], "timestamp": stamp, "trace_id": trace,
                          "correlation_id": correlation, "error_uri": "https://login.microsoftonline.com/error"
                                                                      f"?code={code}"}, status)


class EntraLogin(SimApi):
    """The tenant's v2.0 token endpoint (client credentials with the secret in the form)."""

    def __init__(self):
        super().__init__()
        self.tenant_id = str(uuid.uuid4())
        self.client_id, self.client_secret = str(uuid.uuid4()), fake_credential("graph-secret")
        self.tokens: set[str] = set()
        self.lock = threading.Lock()

    def credentials(self) -> dict:
        """The secret's JSON."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def route(self, request: Request) -> Response:
        match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", request.path)
        if not match or request.method != "POST":
            return aad_error(405 if match else 404, "invalid_request", 900561,
                             "The endpoint only accepts POST requests.")
        form = request.form
        if match[1] != self.tenant_id:
            return aad_error(400, "invalid_request", 90002, f"Tenant '{match[1]}' not found.")
        if form.get("grant_type") != "client_credentials":
            return aad_error(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type.")
        if not form.get("scope"):
            return aad_error(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'scope'.")
        if form["scope"] != SCOPE:
            return aad_error(400, "invalid_scope", 1002012,
                             f"The provided value for scope {form['scope']} is not valid. Client "
                             "credential flows must have a scope value with /.default suffixed to the "
                             "resource identifier (application ID URI).")
        if form.get("client_id") != self.client_id:
            return aad_error(400, "unauthorized_client", 700016,
                             f"Application with identifier '{form.get('client_id')}' was not found in the "
                             f"directory '{self.tenant_id}'.")
        if form.get("client_secret") != self.client_secret:
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                             "secret being sent in the request is the client secret value, not the client "
                             "secret ID, for a secret added to app '" + self.client_id + "'.")
        token = "eyJ0eXAiOiJKV1Qi." + fake_credential("graph")
        with self.lock:
            self.tokens.add(token)
        return json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                              "access_token": token})


class GraphSecurity(SimApi):
    """The tenant's alerts, last updated from late February to just before NOW. `throttle_pages`
    lists the page numbers (1 = first page of a query) answered once with 429 and `Retry-After`."""

    def __init__(self, login: EntraLogin, alerts: int = 40, seed: int = 7, page_size: int = 100,
                 throttle_pages: tuple[int, ...] = (), retry_after: int = 1):
        super().__init__()
        self.login, self.page_size = login, page_size
        self.throttle_pages, self.retry_after = set(throttle_pages), retry_after
        self.throttled: list[tuple[str, float]] = []  # (skiptoken or "", when) of each 429
        self.retried: list[float] = []  # when each throttled request came back
        self.results: dict[str, list[dict]] = {}  # skiptoken → the rest of its query
        rng = random.Random(seed)
        self.alerts: list[dict] = []
        for i in range(alerts):
            created = datetime(2026, 2, 20, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 18 * 86400))
            later = timedelta(seconds=rng.randrange(0, 3 * 86400), microseconds=rng.randrange(10**6))
            updated = min(created + later, NOW - timedelta(minutes=5))
            status = rng.choice(("new", "inProgress", "resolved"))
            self.alerts.append({
                "@odata.type": "#microsoft.graph.security.alert",
                "id": f"da6375512276775{i:05d}_{rng.randrange(10**9)}",
                "providerAlertId": f"da6375512276775{i:05d}",
                "incidentId": str(28000 + i // 3),
                "status": status,
                "severity": rng.choice(("informational", "low", "medium", "high")),
                "classification": rng.choice((None, "truePositive", "falsePositive")) if status == "resolved"
                else None,
                "determination": "unknown",
                "serviceSource": "microsoftDefenderForEndpoint",
                "detectionSource": rng.choice(("antivirus", "microsoftDefenderForEndpoint",
                                               "customDetection")),
                "title": f"Suspicious activity {i}",
                "category": rng.choice(("DefenseEvasion", "Execution", "CredentialAccess")),
                "assignedTo": rng.choice((None, "secops@contoso.com")),
                "mitreTechniques": rng.sample(["T1564.001", "T1059.001", "T1003"], rng.randrange(0, 3)),
                "evidence": [{"@odata.type": rng.choice(EVIDENCE), "verdict": "unknown",
                              "createdDateTime": graph_time(created)} for _ in range(rng.randrange(0, 3))],
                "createdDateTime": graph_time(created, rng.randrange(10)),
                "lastUpdateDateTime": graph_time(updated, rng.randrange(10)),
                "resolvedDateTime": graph_time(updated) if status == "resolved" else None,
                "_created": created.replace(microsecond=0), "_updated": updated,
            })

    def truth(self, since: datetime) -> dict[str, dict]:
        """The alerts a sync from `since` to NOW must load, by id."""
        return {a["id"]: a for a in self.alerts if since <= a["_updated"] < NOW}

    def route(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.login.tokens:
            message = "Access token is empty." if not header else "Access token validation failure."
            return graph_error(401, "InvalidAuthenticationToken", message)
        if request.path != ALERTS:
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{request.path}'.")
        token = request.args.get("$skiptoken")
        page = 1 if token is None else int(token.split("-")[0])
        with self.lock:
            key = token or ""
            if page in self.throttle_pages and not any(t == key for t, _ in self.throttled):
                self.throttled.append((key, time.monotonic()))
                return graph_error(429, "TooManyRequests", "Too many requests from Identifier:"
                                   f"{self.login.client_id} under category:throttle.security.alerts. Please "
                                   "try again later.", {"Retry-After": str(self.retry_after)})
            if any(t == key for t, _ in self.throttled) and len(self.retried) < len(self.throttled):
                self.retried.append(time.monotonic())
        if token is not None:
            if token not in self.results:
                return graph_error(400, "BadRequest", "The $skiptoken is invalid or has expired.")
            rows = self.results[token]
        else:
            try:
                rows = self.query(request.args.get("$filter"))
            except ValueError as exc:
                return graph_error(400, "BadRequest", str(exc))
        top = request.args.get("$top")
        if top is not None and (not top.isdigit() or int(top) == 0):
            return graph_error(400, "BadRequest", f"Invalid value '{top}' for $top query option found.")
        size = min(int(top or self.page_size), MAX_TOP, self.page_size)
        body: dict[str, Any] = {"@odata.context": CONTEXT,
                                "value": [{k: v for k, v in a.items() if not k.startswith("_")}
                                          for a in rows[:size]]}
        if len(rows) > size:
            nxt = f"{page + 1}-{uuid.uuid4().hex}"
            self.results[nxt] = rows[size:]
            params = {k: v for k, v in request.args.items() if k != "$skiptoken"}
            params["$skiptoken"] = nxt
            body["@odata.nextLink"] = (f"{request.host_url.rstrip('/')}{ALERTS}?"
                                       f"{urlencode(params, quote_via=quote, safe='$')}")
        return json_response(body)

    def query(self, expression: str | None) -> list[dict]:
        rows = self.alerts
        for clause in re.split(r"\s+and\s+", expression) if expression else []:
            match = _CLAUSE.match(clause)
            if not match:
                raise ValueError(f"Invalid filter clause: {clause.strip()!r}.")
            prop, op, literal = match.groups()
            if prop not in _FILTERABLE:
                raise ValueError(f"Invalid filter clause: property '{prop}' does not support $filter.")
            bound = datetime.fromisoformat(literal.replace("Z", "+00:00"))
            column = "_updated" if prop == "lastUpdateDateTime" else "_created"
            rows = [a for a in rows if _OPS[op](a[column], bound)]
        return sorted(rows, key=lambda a: a["_created"], reverse=True)  # most recent first
