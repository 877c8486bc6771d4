"""Google Ads API (REST) `GoogleAdsService.SearchStream`, behind Google's OAuth token endpoint,
written from Google's documentation.

`GoogleTokenEndpoint` stands in for `https://oauth2.googleapis.com/token` with the refresh-token
grant: a form `client_id`, `client_secret`, `refresh_token`, `grant_type=refresh_token`, answered
with `access_token`, `expires_in`, `scope`, `token_type` (Google does not rotate the refresh token:
the answer has none). An unknown client is 401 `invalid_client` ("The OAuth client was not
found."), a wrong secret 401 `invalid_client` ("Unauthorized"), an unknown refresh token 400
`invalid_grant` ("Bad Request").

`GoogleAds` is `googleads.googleapis.com`: `POST /v{N}/customers/{customerId}/googleAds:searchStream`
with a JSON body `{"query": <GAQL>, "summaryRowSetting": NO_SUMMARY_ROW | SUMMARY_ROW_WITH_RESULTS |
SUMMARY_ROW_ONLY}` and the headers `Authorization: Bearer`, `developer-token` and (a client account
reached through its manager) `login-customer-id`. The answer is a JSON array of
`SearchGoogleAdsStreamResponse` batches: `results` (GoogleAdsRow objects in lowerCamelCase:
`customer.id`, `campaign.id` and int64 metrics as strings, `metrics.ctr` a number, every resource
with its `resourceName`), `fieldMask`, `requestId`, `queryResourceConsumption` in the last batch of
results; a summary row comes alone in a last batch (`summaryRow`, no `results`). A query without
rows is one batch with `fieldMask` and `requestId` only. Errors are Google's
`{"error": {"code", "message", "status", "details": [GoogleAdsFailure]}}`: 401 UNAUTHENTICATED
without a live token, 400 INVALID_ARGUMENT with `requestError: DEVELOPER_TOKEN_PARAMETER_MISSING`
without the `developer-token` header, 403 PERMISSION_DENIED with `authorizationError:
USER_PERMISSION_DENIED` for a client account reached without its manager's `login-customer-id`,
400 with a `queryError` for GAQL it cannot run.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from datetime import date, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response

VERSION = "v22"
SCOPE = "https://www.googleapis.com/auth/adwords"
MANAGER_ID = "1234567890"
CUSTOMER_ID = "9876543210"
_PATH = re.compile(r"^/(v\d+)/customers/([^/]+)/googleAds:searchStream$")
_QUERY = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)"
                    r"(?:\s+WHERE\s+(?P<where>.+?))?\s*$", re.IGNORECASE | re.DOTALL)
_BETWEEN = re.compile(r"^segments\.date\s+BETWEEN\s+'([^']*)'\s+AND\s+'([^']*)'$", re.IGNORECASE)
# GAQL field → (path in the GoogleAdsRow JSON, how the value is written)
FIELDS = {"customer.id": ("customer.id", "int64"), "campaign.id": ("campaign.id", "int64"),
          "campaign.name": ("campaign.name", "string"), "campaign.status": ("campaign.status", "enum"),
          "segments.date": ("segments.date", "date"), "metrics.impressions": ("metrics.impressions", "int64"),
          "metrics.clicks": ("metrics.clicks", "int64"),
          "metrics.cost_micros": ("metrics.costMicros", "int64"), "metrics.ctr": ("metrics.ctr", "double")}


def ads_error(code: int, status: str, message: str, errors: list[dict] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if errors is not None:
        kind = f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure"
        body["details"] = [{"@type": kind, "errors": errors, "requestId": secrets.token_urlsafe(16)[:22]}]
    return json_response({"error": body}, code)


def failure(kind: str, code: str, message: str) -> list[dict]:
    return [{"errorCode": {kind: code}, "message": message}]


class GoogleTokenEndpoint(SimApi):
    """`POST /token`, the refresh-token grant of an installed/web OAuth client."""

    def __init__(self):
        super().__init__()
        self.client_id = f"{secrets.randbelow(10**12)}-{secrets.token_hex(8)}.apps.googleusercontent.com"
        self.client_secret = fake_credential("GOCSPX")
        self.refresh_token = "1//" + fake_credential("rt")
        self.tokens: set[str] = set()
        self.lock = threading.Lock()

    def route(self, request: Request) -> Response:
        if request.path != "/token" or request.method != "POST":
            return json_response({"error": "invalid_request", "error_description": "Not Found"}, 404)
        form = request.form
        if form.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "Invalid grant_type: " + form.get("grant_type", "")},
                                 400)
        if form.get("client_id") != self.client_id:
            return json_response({"error": "invalid_client",
                                  "error_description": "The OAuth client was not found."}, 401)
        if form.get("client_secret") != self.client_secret:
            return json_response({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        if form.get("refresh_token") != self.refresh_token:
            return json_response({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        token = "ya29." + fake_credential("a0")
        with self.lock:
            self.tokens.add(token)
        return json_response({"access_token": token, "expires_in": 3599, "scope": SCOPE,
                              "token_type": "Bearer"})


class GoogleAds(SimApi):
    """A manager account (`MANAGER_ID`) and its client account (`CUSTOMER_ID`) with a few campaigns'
    daily stats; `batch_size` rows per stream batch (the API's is 10,000)."""

    def __init__(self, oauth: GoogleTokenEndpoint, campaigns: int = 4, first_day: date = date(2026, 3, 2),
                 batch_size: int = 3, seed: int = 11):
        super().__init__()
        self.oauth, self.batch_size = oauth, batch_size
        self.developer_token = fake_credential("devtoken")
        rng = random.Random(seed)
        self.campaigns = [{"id": str(20_000_000_000 + rng.randrange(10**9)), "name": f"Spring sale {i}",
                           "status": rng.choice(("ENABLED", "PAUSED"))} for i in range(campaigns)]
        self.facts: list[dict] = []  # the ground truth: one per campaign and day with impressions
        day = first_day
        while day <= NOW.date():
            for campaign in self.campaigns:
                if rng.random() < 0.25:
                    continue
                impressions = rng.randrange(1, 50_000)
                clicks = rng.randrange(0, impressions // 10 + 1)
                self.facts.append({"customer_id": CUSTOMER_ID, "campaign": campaign, "date": day,
                                   "impressions": impressions, "clicks": clicks,
                                   "cost_micros": clicks * rng.randrange(50_000, 4_000_000),
                                   "ctr": clicks / impressions})
            day += timedelta(days=1)

    def credentials(self) -> dict:
        """The secret's JSON: the OAuth client, its refresh token and the two Ads headers."""
        return {"client_id": self.oauth.client_id, "client_secret": self.oauth.client_secret,
                "refresh_token": self.oauth.refresh_token, "developer_token": self.developer_token,
                "login_customer_id": MANAGER_ID}

    def truth(self, through: date) -> dict[tuple, dict]:
        return {(int(f["customer_id"]), int(f["campaign"]["id"]), f["date"]): f
                for f in self.facts if f["date"] <= through}

    def queries(self) -> list[dict]:
        return [json.loads(r.get_data()) for r in self.requests if r.path.endswith(":searchStream")]

    def route(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.oauth.tokens:
            return ads_error(401, "UNAUTHENTICATED",
                             "Request is missing required authentication credential. Expected OAuth 2 access "
                             "token, login cookie or other valid authentication credential. See "
                             "https://developers.google.com/identity/sign-in/web/devconsole-project.")
        match = _PATH.match(request.path)
        if not match or request.method != "POST":
            return ads_error(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
        if match[1] != VERSION:
            return ads_error(404, "NOT_FOUND", f"Version {match[1]} is not served by this simulator.")
        token = request.headers.get("developer-token")
        if not token:
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING",
                                     "developer-token parameter is missing."))
        if token != self.developer_token:
            return ads_error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.",
                             failure("authenticationError", "DEVELOPER_TOKEN_INVALID",
                                     "The developer token is not valid."))
        customer, login = match[2], request.headers.get("login-customer-id")
        if not customer.isdigit() or (login is not None and not login.isdigit()):
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("authenticationError", "CLIENT_CUSTOMER_ID_INVALID",
                                     "Client customer ID is not a number."))
        if customer != CUSTOMER_ID or login != MANAGER_ID:
            return ads_error(403, "PERMISSION_DENIED", "The caller does not have permission",
                             failure("authorizationError", "USER_PERMISSION_DENIED",
                                     "User doesn't have permission to access customer. Note: If you're "
                                     "accessing a client customer, the manager's customer ID must be set in "
                                     "the 'login-customer-id' header. See https://developers.google.com/"
                                     "google-ads/api/docs/concepts/call-structure#cid"))
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return ads_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        return self.stream(body)

    def stream(self, body: dict) -> Response:
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("requestError", "REQUIRED_FIELD_MISSING",
                                     "Required field was not specified."))
        setting = body.get("summaryRowSetting", "NO_SUMMARY_ROW")
        if setting not in ("NO_SUMMARY_ROW", "SUMMARY_ROW_WITH_RESULTS", "SUMMARY_ROW_ONLY"):
            return ads_error(400, "INVALID_ARGUMENT",
                             f'Invalid value at \'summary_row_setting\', "{setting}"')
        parsed = _QUERY.match(query)
        if not parsed or parsed["resource"] != "campaign":
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("queryError", "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE"
                                     if parsed else "UNEXPECTED_END_OF_QUERY",
                                     "Error in query: unexpected input."))
        fields = [f.strip() for f in parsed["fields"].split(",")]
        for name in fields:
            if name not in FIELDS:
                return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                 failure("queryError", "UNRECOGNIZED_FIELD",
                                         f"Error in SELECT clause: unrecognized field '{name}'."))
        window = _BETWEEN.match((parsed["where"] or "").strip())
        if "segments.date" in fields and not window:
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("queryError", "EXPECTED_FILTERS_ON_DATE_RANGE",
                                     "Error in WHERE clause: the filtering conditions must combine to form a "
                                     "finite date range when segments.date is selected."))
        try:
            start, end = (date.fromisoformat(v) for v in window.groups()) if window else (date.min, date.max)
        except ValueError:
            return ads_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                             failure("queryError", "INVALID_VALUE_WITH_BETWEEN_OPERATOR",
                                     "Error in WHERE clause: invalid date in BETWEEN."))
        facts = [f for f in self.facts if start <= f["date"] <= end]  # BETWEEN includes both ends
        mask = ",".join(dict.fromkeys(FIELDS[n][0] for n in fields))
        request_id = secrets.token_urlsafe(16)[:22]
        rows = [self.row(f, fields) for f in facts] if setting != "SUMMARY_ROW_ONLY" else []
        size = self.batch_size
        batches: list[dict] = [{"results": rows[i:i + size], "fieldMask": mask, "requestId": request_id}
                               for i in range(0, len(rows), size)]
        if batches:
            batches[-1]["queryResourceConsumption"] = str(len(rows) * 2 + 10)
        if setting != "NO_SUMMARY_ROW":
            summary = {"metrics": {"impressions": str(sum(f["impressions"] for f in facts)),
                                   "clicks": str(sum(f["clicks"] for f in facts)),
                                   "costMicros": str(sum(f["cost_micros"] for f in facts))}}
            batches.append({"summaryRow": summary, "fieldMask": mask, "requestId": request_id})
        if not batches:  # no rows and no summary: one batch without results
            batches = [{"fieldMask": mask, "requestId": request_id}]
        return json_response(batches)

    @staticmethod
    def row(fact: dict, fields: list[str]) -> dict:
        campaign = fact["campaign"]
        values = {"customer.id": fact["customer_id"], "campaign.id": campaign["id"],
                  "campaign.name": campaign["name"], "campaign.status": campaign["status"],
                  "segments.date": fact["date"].isoformat(), "metrics.impressions": str(fact["impressions"]),
                  "metrics.clicks": str(fact["clicks"]), "metrics.cost_micros": str(fact["cost_micros"]),
                  "metrics.ctr": fact["ctr"]}
        row: dict[str, Any] = {}
        for name in fields:
            resource, key = FIELDS[name][0].split(".")
            row.setdefault(resource, {})[key] = values[name]
        if "customer" in row:
            row["customer"]["resourceName"] = f"customers/{fact['customer_id']}"
        if "campaign" in row:
            row["campaign"]["resourceName"] = f"customers/{fact['customer_id']}/campaigns/{campaign['id']}"
        return {k: row[k] for k in ("customer", "campaign", "metrics", "segments") if k in row}
