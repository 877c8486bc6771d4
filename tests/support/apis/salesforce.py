"""Salesforce-like org on two servers, and a plain session-login API.

`SalesforceLogin` is `login.salesforce.com`: the OAuth username-password flow (a form POST to
`/services/oauth2/token`) answers `access_token` and the org's `instance_url` — another server,
`SalesforceInstance`, which alone serves the REST API: a SOQL query paged by a relative
`nextRecordsUrl` (`/services/data/v60.0/query/<locator>-<offset>`) until `done`, and Salesforce's
`INVALID_SESSION_ID` 401 for an unknown or expired session.

`SessionLoginApi` is the other common style: a JSON login with nested fields, the session token in
a response header and a cookie, sent back in a header or the cookie.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import datetime

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, fake_credential, json_response

VERSION = "/services/data/v60.0"
_MORE = re.compile(rf"^{VERSION}/query/(01g[A-Za-z0-9]+)-(\d+)$")
_WINDOW = re.compile(r"LastModifiedDate >= (\S+) AND LastModifiedDate < (\S+)")


def _instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


class Org:
    """What both Salesforce servers share: the user, the live sessions and the records."""

    def __init__(self, records: int = 5, batch: int = 2):
        self.client_id, self.client_secret = fake_credential("sf-key"), fake_credential("sf-secret")
        self.username, self.password = "bot@example.com", fake_credential("sf-pass")
        self.records = [{"attributes": {"type": "Account",
                                        "url": f"{VERSION}/sobjects/Account/001{i:015d}"},
                         "Id": f"001{i:015d}", "Name": f"Acme {i}",
                         "Industry": ["Energy", "Retail", None][i % 3],
                         "AnnualRevenue": i * 125000.5 if i % 4 else None, "IsDeleted": False,
                         "LastModifiedDate":
                             f"2026-0{1 + i % 3}-{1 + i % 9:02d}T10:{i % 60:02d}:00.000+0000"}
                        for i in range(1, records + 1)]
        self.batch, self.instance_url = batch, ""
        self.sessions: set[str] = set()
        self.logins = 0
        self.lock = threading.Lock()

    def credentials(self) -> dict:
        """The secret's JSON (the password with the security token already appended)."""
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "username": self.username, "password": self.password}

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()


class SalesforceLogin(SimApi):
    def __init__(self, org: Org):
        super().__init__()
        self.org = org

    def route(self, request: Request) -> Response:
        if request.path != "/services/oauth2/token" or request.method != "POST":
            return json_response([{"errorCode": "NOT_FOUND", "message": "not a login host"}], 404)
        form, org = request.form, self.org
        if form.get("grant_type") != "password":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "grant type not supported"}, 400)
        if (form.get("client_id"), form.get("client_secret")) != (org.client_id, org.client_secret):
            return json_response({"error": "invalid_client_id",
                                  "error_description": "client identifier invalid"}, 400)
        if (form.get("username"), form.get("password")) != (org.username, org.password):
            return json_response({"error": "invalid_grant",
                                  "error_description": "authentication failure"}, 400)
        token = "00D000000000001!" + secrets.token_urlsafe(24)
        with org.lock:
            org.sessions.add(token)
            org.logins += 1
        return json_response({"access_token": token, "instance_url": org.instance_url,
                              "id": "https://login.salesforce.com/id/00D000000000001/005000000000001",
                              "token_type": "Bearer", "issued_at": "1767225600000", "signature": "c2ln"})


class SalesforceInstance(SimApi):
    def __init__(self, org: Org):
        super().__init__()
        self.org = org
        self.results: dict[str, list[dict]] = {}  # query locator → its records

    def route(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.org.sessions:
            return json_response([{"message": "Session expired or invalid",
                                   "errorCode": "INVALID_SESSION_ID"}], 401)
        if request.path == f"{VERSION}/query" and request.args.get("q", "").startswith("SELECT "):
            return self.query(request.args["q"])
        more = _MORE.match(request.path)
        if more and more[1] in self.results:
            return self.batch(more[1], int(more[2]))
        return json_response([{"errorCode": "NOT_FOUND",
                               "message": "The requested resource does not exist"}], 404)

    def query(self, soql: str) -> Response:
        """A SOQL query; a `LastModifiedDate >= X AND LastModifiedDate < Y` window filters it
        (literals are unquoted ISO instants, compared as instants as Salesforce does)."""
        rows = self.org.records
        window = _WINDOW.search(soql)
        if window:
            low, high = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in window.groups())
            rows = [r for r in rows if low <= _instant(r["LastModifiedDate"]) < high]
        locator = f"01gD{len(self.results) + 1:010d}"
        if "ORDER BY LastModifiedDate" in soql:
            rows = sorted(rows, key=lambda r: r["LastModifiedDate"])
        self.results[locator] = rows
        return self.batch(locator, 0)

    def batch(self, locator: str, offset: int) -> Response:
        rows, size = self.results[locator], self.org.batch
        body = {"totalSize": len(rows), "done": offset + size >= len(rows),
                "records": rows[offset:offset + size]}
        if not body["done"]:
            body["nextRecordsUrl"] = f"{VERSION}/query/{locator}-{offset + size}"
        return json_response(body)


class SessionLoginApi(SimApi):
    """`POST /api/session` with `{"auth": {"user", "pass"}, "client": "ingest"}`; the token comes
    back in `X-Session-Token` and the `sid` cookie, and `/api/items` (paged by `?page=`) takes it
    back `via` the `X-Session` header or the cookie only. A refused login echoes what it was sent
    (a careless API): the suite must not pass that on."""

    def __init__(self, user: str, password: str, via: str = "header", pages: int = 2):
        super().__init__()
        self.user, self.password, self.via, self.pages = user, password, via, pages
        self.sessions: set[str] = set()
        self.logins = 0

    def route(self, request: Request) -> Response:
        if request.path == "/api/session" and request.method == "POST":
            sent = request.get_json(silent=True) or {}
            expected = {"auth": {"user": self.user, "pass": self.password}, "client": "ingest"}
            if sent != expected:
                return json_response({"error": "bad credentials", "request": sent}, 401)
            token = secrets.token_hex(16)
            self.sessions.add(token)
            self.logins += 1
            response = json_response({"ok": True, "expires_in": 3600}, headers={"X-Session-Token": token})
            response.set_cookie("sid", token, httponly=True)
            return response
        token = request.headers.get("X-Session") if self.via == "header" else request.cookies.get("sid")
        if token not in self.sessions:
            return json_response({"error": "not logged in"}, 401)
        page = int(request.args.get("page", 1))
        data = [{"id": page * 10 + i} for i in range(2)] if page <= self.pages else []
        return json_response({"data": data})
