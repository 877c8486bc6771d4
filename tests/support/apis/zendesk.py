"""Zendesk Support's account-wide ticket audits, a newest-first feed without a date filter, written
from Zendesk's documentation (developer.zendesk.com: Ticket Audits "List All Ticket Audits", its
legacy cursor pagination; API token authentication; rate limits).

`GET /api/v2/ticket_audits?limit=&cursor=` answers `{"audits": [...], "before_cursor",
"after_cursor", "before_url", "after_url", "count"}`:

- "The records are ordered sequentially by the `created_at` timestamp, then by `id` within
  duplicate timestamp values. The first page will return the most recent audits." There is no
  date parameter: an incremental reader starts at the newest audit every time and stops once the
  pages are older than what it already has.
- `before_cursor` / `before_url` lead to older audits and are `null` on the oldest page;
  `after_cursor` / `after_url` to newer ones. The cursors "may contain non-URL-safe characters"
  (these hold `+`, `/` and `=`): a client must URL-encode them.
- `limit` defaults to 1,000, the maximum.
- Audits never change once written; archived tickets' audits are not listed.
- An API token: HTTP Basic with `{email}/token` as the user name and the token as the password;
  anything else is a 401 `{"error": "Couldn't authenticate you"}`.
- Every answer carries `X-Rate-Limit` / `X-Rate-Limit-Remaining` (700 a minute).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, basic_credentials, fake_credential, iso_z, json_response
from tests.support.apis.kit import instants, opaque, unwrap

AUDITS = "/api/v2/ticket_audits"
CURSOR_PREFIX = b"\xfb\xef"  # every cursor starts with "++": sent unencoded, it arrives as spaces
CHANNELS = ("web", "email", "api", "rule")
EVENTS = (("Comment", {"body": "Customer replied.", "public": True}),
          ("Change", {"field_name": "status", "value": "open", "previous_value": "new"}),
          ("Notification", {"subject": "Ticket updated", "recipients": [3001]}),
          ("Change", {"field_name": "priority", "value": "high", "previous_value": None}))


class ZendeskAudits(SimApi):
    """An account's audits, written over the month before NOW (several within the same second)."""

    def __init__(self, audits: int = 60, seed: int = 23):
        super().__init__()
        self.email, self.api_token = "admin@example.com", fake_credential("zendesk")
        self.rng = random.Random(seed)
        self.audits: list[dict] = []
        moments = instants(self.rng, NOW - timedelta(days=30), NOW - timedelta(hours=1), audits - 3)
        self.add([*moments, moments[-5], moments[-5], moments[10]])  # same-second audits

    def add(self, moments: list[datetime]) -> list[dict]:
        """Audits written at `moments`; returns them."""
        written = []
        for at in moments:
            number = 2127301143 + (len(self.audits) + len(written)) * 17
            events = [{"id": number + 1 + k, "type": kind, **fields}
                      for k, (kind, fields) in enumerate(self.rng.sample(EVENTS, self.rng.randrange(1, 4)))]
            written.append({"id": number, "ticket_id": 600 + self.rng.randrange(40),
                            "author_id": self.rng.choice((5246746, 3001, -1)), "created_at": iso_z(at),
                            "via": {"channel": self.rng.choice(CHANNELS), "source": {"from": {}, "to": {},
                                                                                     "rel": None}},
                            "metadata": {"system": {"client": "Mozilla/5.0", "ip_address": "76.218.201.212"},
                                         "custom": {}},
                            "events": events, "_at": at})
        self.audits.extend(written)
        self.audits.sort(key=lambda a: (a["_at"], a["id"]), reverse=True)  # newest first, as served
        return written

    def credentials(self) -> dict:
        """The secret's JSON (a `basic` secret: `{email}/token` and the API token)."""
        return {"username": f"{self.email}/token", "password": self.api_token}

    def truth(self, since: datetime) -> dict[int, dict]:
        """The audits created at or after `since`, by id."""
        return {a["id"]: a for a in self.audits if a["_at"] >= since}

    def pages_until(self, cutoff: datetime, limit: int) -> int:
        """How many pages of `limit` a newest-first reader needs to reach the first page lying
        wholly before `cutoff` (that page included: only reading it shows it is too old)."""
        pages = [self.audits[i:i + limit] for i in range(0, len(self.audits), limit)]
        for number, page in enumerate(pages, 1):
            if page[0]["_at"] < cutoff:
                return number
        return len(pages)

    def route(self, request: Request) -> Response:
        if basic_credentials(request) != (f"{self.email}/token", self.api_token):
            return json_response({"error": "Couldn't authenticate you"}, 401)
        if request.path != AUDITS:
            return json_response({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        limit = request.args.get("limit", "1000")
        if not limit.isdigit() or int(limit) < 1:
            return json_response({"error": "InvalidPaginationParameter",
                                  "description": "limit must be a positive integer"}, 400)
        size, rows = min(int(limit), 1000), self.audits
        if "cursor" in request.args:
            mark = self.position(request.args["cursor"])
            if mark is None:
                return json_response({"error": "InvalidPaginationParameter",
                                      "description": "cursor is invalid"}, 400)
            rows = [a for a in rows if (a["_at"].timestamp(), a["id"]) < mark]
        page = rows[:size]
        before = self.cursor(page[-1]) if len(rows) > size else None
        after = self.cursor(page[0]) if page else None
        url = f"{request.host_url.rstrip('/')}{AUDITS}?"
        body = {"audits": [{k: v for k, v in a.items() if not k.startswith("_")} for a in page],
                "before_cursor": before, "after_cursor": after,
                "before_url": url + urlencode({"cursor": before, "limit": size}) if before else None,
                "after_url": url + urlencode({"cursor": after, "limit": size}) if after else None,
                "count": len(page)}
        with self.lock:
            used = len(self.requests)
        return json_response(body, headers={"X-Rate-Limit": "700",
                                            "X-Rate-Limit-Remaining": str(max(0, 700 - used))})

    @staticmethod
    def cursor(audit: dict) -> str:
        """A keyset cursor: the audit's second and id, wrapped so that it needs URL-encoding."""
        return opaque(f"{int(audit['_at'].timestamp())}:{audit['id']}", CURSOR_PREFIX)

    @staticmethod
    def position(token: str) -> tuple[float, int] | None:
        text = unwrap(token, CURSOR_PREFIX) or ""
        second, _, number = text.partition(":")
        return (float(second), int(number)) if second.isdigit() and number.isdigit() else None
