"""Google Analytics 4 Data API (v1beta) `runReport`, behind Google's OAuth token endpoint.

`GoogleOAuth` stands in for `https://oauth2.googleapis.com/token`: the JWT bearer grant
(RFC 7523) with an assertion signed by the service account's key (RS256, `kid` = the key's
`private_key_id`, `iss` = `client_email`, `aud` = the token URL, a `scope` claim, at most an hour),
answered with `access_token`, `expires_in`, `token_type`; refusals are OAuth errors
(`invalid_grant`, `invalid_scope`, `unsupported_grant_type`) with HTTP 400.

`AnalyticsData` is `analyticsdata.googleapis.com`: `POST /v1beta/properties/{id}:runReport` with a
JSON `RunReportRequest` — `dateRanges` (`startDate`/`endDate`, both inclusive, `YYYY-MM-DD`,
`NdaysAgo`, `yesterday` or `today`), `dimensions`/`metrics` (`{"name": …}`), `limit`/`offset`
(int64: a JSON number or a decimal string; at most 250,000 rows per response). It answers a
`RunReportResponse`: `dimensionHeaders`, `metricHeaders` (`name`, `type`), `rows` of
`dimensionValues[].value` / `metricValues[].value` (always strings; `date` as `YYYYMMDD`),
`rowCount` (the rows of the whole query, whatever `limit`/`offset`), `metadata`, `kind`. As proto3
JSON does, an empty report leaves out `rows` **and** `rowCount`. Errors are Google's
`{"error": {"code", "message", "status"}}`: 401 UNAUTHENTICATED without a live token, 403
PERMISSION_DENIED for a token without the Analytics scope or a property the account cannot read,
400 INVALID_ARGUMENT for a malformed request.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date, timedelta
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.tokens import GOOGLE_TOKEN_URL, JWT_BEARER, check

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
CLIENT_EMAIL = "ingest@acme-analytics.iam.gserviceaccount.com"
PROPERTY_ID = "312345678"
MAX_ROWS = 250_000
DIMENSIONS = ("date", "country", "deviceCategory")
METRICS = {"activeUsers": "TYPE_INTEGER", "sessions": "TYPE_INTEGER", "screenPageViews": "TYPE_INTEGER",
           "bounceRate": "TYPE_FLOAT"}
COUNTRIES = ("Germany", "France", "United States", "Japan", "Brazil", "India", "(not set)")
DEVICES = ("desktop", "mobile", "tablet")
_RUN_REPORT = re.compile(r"^/v1beta/properties/([^/:]+):runReport$")
_DAYS_AGO = re.compile(r"^(\d+)daysAgo$")


def google_error(code: int, status: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message, "status": status}}, code)


class GoogleOAuth(SimApi):
    """The token endpoint: JWT bearer assertions checked with the registered public key."""

    def __init__(self, public_key: Any, kid: str | None = None):
        super().__init__()
        self.public_key, self.kid = public_key, kid
        self.url = ""  # set once served: the test key's token_uri is url + "/token"
        self.tokens: dict[str, str] = {}  # access token → its scope
        self.assertions: list[dict] = []

    def route(self, request: Request) -> Response:
        if request.path != "/token" or request.method != "POST":
            return json_response({"error": "invalid_request", "error_description": "Not found"}, 404)
        form = request.form
        if form.get("grant_type") != JWT_BEARER:
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "Invalid grant_type: " + form.get("grant_type", "")},
                                 400)
        try:
            claims = check(form.get("assertion", ""), self.public_key, self.kid, algorithm="RS256",
                           issuer=CLIENT_EMAIL, audience=[GOOGLE_TOKEN_URL, self.url + "/token"],
                           max_lifetime=3600)
        except jwt.InvalidTokenError as exc:
            return json_response({"error": "invalid_grant",
                                  "error_description": f"Invalid JWT Signature. ({exc})"}, 400)
        if not claims.get("scope"):
            return json_response({"error": "invalid_scope",
                                  "error_description": "Empty or missing scope not allowed."}, 400)
        token = "ya29." + fake_credential("c")
        with self.lock:
            self.assertions.append(claims)
            self.tokens[token] = claims["scope"]
        return json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


class AnalyticsData(SimApi):
    """One GA4 property's daily traffic by date, country and device category. The property starts
    collecting on `first_day`: reports of earlier days are empty."""

    def __init__(self, oauth: GoogleOAuth, first_day: date = date(2026, 3, 2), seed: int = 4):
        super().__init__()
        self.oauth, self.property_id = oauth, PROPERTY_ID
        rng = random.Random(seed)
        self.facts: list[dict] = []  # the ground truth: one dict per (date, country, deviceCategory)
        day = first_day
        while day <= NOW.date():  # today too: GA4 serves the partial day
            for country in COUNTRIES:
                for device in DEVICES:
                    if rng.random() < 0.3:  # no traffic from there that day: no row
                        continue
                    sessions = rng.randrange(1, 5000)
                    users = rng.randrange(1, sessions + 1)
                    bounced = rng.randrange(0, sessions + 1)
                    self.facts.append({"date": day, "country": country, "deviceCategory": device,
                                       "activeUsers": users, "sessions": sessions,
                                       "screenPageViews": sessions * rng.randrange(1, 6),
                                       "bounceRate": bounced / sessions})
            day += timedelta(days=1)

    def truth(self, through: date) -> dict[tuple, dict]:
        return {(f["date"], f["country"], f["deviceCategory"]): f for f in self.facts if f["date"] <= through}

    def route(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        scope = self.oauth.tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if scope is None:
            return google_error(401, "UNAUTHENTICATED",
                                "Request had invalid authentication credentials. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.")
        match = _RUN_REPORT.match(request.path)
        if not match or request.method != "POST":
            return google_error(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
        if SCOPE not in scope.split() and "https://www.googleapis.com/auth/analytics" not in scope.split():
            return google_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        if match[1] != self.property_id:
            return google_error(403, "PERMISSION_DENIED",
                                "User does not have sufficient permissions for this property. To learn more "
                                "about Property ID, see https://developers.google.com/analytics/devguides/"
                                "reporting/data/v1/property-id.")
        try:
            body = json.loads(request.get_data() or b"{}")
            return self.report(body)
        except (ValueError, TypeError, KeyError) as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))

    @staticmethod
    def _date(text: str) -> date:
        today = NOW.date()
        if text == "today":
            return today
        if text == "yesterday":
            return today - timedelta(days=1)
        if ago := _DAYS_AGO.match(text):
            return today - timedelta(days=int(ago[1]))
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            raise ValueError(f"Invalid date: {text!r}. Date must be formatted as YYYY-MM-DD, NdaysAgo, "
                             "yesterday, or today.")
        return date.fromisoformat(text)

    @staticmethod
    def _int64(body: dict, name: str) -> int | None:
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
            raise ValueError(f"Invalid value at '{name}' (TYPE_INT64), {json.dumps(value)}")
        if int(value) < 0:
            raise ValueError(f"{name} must be positive.")
        return int(value)

    def report(self, body: dict) -> Response:
        ranges = body.get("dateRanges") or []
        if len(ranges) != 1:  # several ranges add a dateRange dimension: not simulated
            raise ValueError("Exactly one dateRange is supported by this simulator; got "
                             f"{len(ranges)}." if ranges else "Must specify at least one date range.")
        start, end = self._date(ranges[0]["startDate"]), self._date(ranges[0]["endDate"])
        if start > end:
            raise ValueError(f"Date range startDate {start} must be before or equal to endDate {end}.")
        dims = [d["name"] for d in body.get("dimensions", [])]
        mets = [m["name"] for m in body.get("metrics", [])]
        if not mets:
            raise ValueError("Metrics must be specified.")
        for name in dims:
            if name not in DIMENSIONS:
                raise ValueError(f"Field {name} is not a valid dimension. For a list of valid dimensions "
                                 "and metrics, see https://developers.google.com/analytics/devguides/"
                                 "reporting/data/v1/api-schema")
        for name in mets:
            if name not in METRICS:
                raise ValueError(f"Field {name} is not a valid metric.")
        limit = self._int64(body, "limit") or 10_000
        offset = self._int64(body, "offset") or 0
        if limit == 0:
            raise ValueError("limit must be positive.")
        rows = self.aggregate([f for f in self.facts if start <= f["date"] <= end], dims, mets)
        answer: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": METRICS[m]} for m in mets],
        }
        if not dims:  # proto3 JSON leaves out an empty list
            del answer["dimensionHeaders"]
        page = rows[offset: offset + min(limit, MAX_ROWS)]
        if page:
            answer["rows"] = page
        if rows:
            answer["rowCount"] = len(rows)
        answer["metadata"] = {"currencyCode": "EUR", "timeZone": "Etc/GMT"}
        answer["kind"] = "analyticsData#runReport"
        return json_response(answer)

    @staticmethod
    def aggregate(facts: list[dict], dims: list[str], mets: list[str]) -> list[dict]:
        """Rows grouped by the requested dimensions, in their order (GA4 orders by the first
        metric, descending, unless `orderBys` says otherwise; a fixed order is enough here)."""
        groups: dict[tuple, list[dict]] = {}
        for fact in facts:
            key = tuple(fact[d].strftime("%Y%m%d") if d == "date" else fact[d] for d in dims)
            groups.setdefault(key, []).append(fact)
        rows = []
        for key in sorted(groups):
            members = groups[key]
            sessions = sum(m["sessions"] for m in members)
            values = {"activeUsers": sum(m["activeUsers"] for m in members), "sessions": sessions,
                      "screenPageViews": sum(m["screenPageViews"] for m in members),
                      "bounceRate": sum(m["bounceRate"] * m["sessions"] for m in members) / sessions}
            rows.append({"dimensionValues": [{"value": v} for v in key],
                         "metricValues": [{"value": repr(values[m]) if METRICS[m] == "TYPE_FLOAT"
                                           else str(values[m])} for m in mets]})
        return rows

    def report_calls(self) -> list[dict]:
        return [json.loads(r.get_data()) for r in self.requests if r.path.endswith(":runReport")]
