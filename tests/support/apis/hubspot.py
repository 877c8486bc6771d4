"""HubSpot CRM v3 objects (contacts), written from HubSpot's documentation (developers.hubspot.com:
CRM objects "List" endpoint, "Handling errors", API usage limits).

`GET /crm/v3/objects/contacts?limit=&after=&properties=&archived=` reads a page of contacts in id
order: `{"results": [{"id", "properties": {...}, "createdAt", "updatedAt", "archived"}], "paging":
{"next": {"after", "link"}}}`, with no `paging` at all on the last page. There is no date filter:
a client that wants only what changed must read everything and keep what is new itself.

- `properties` is a comma-separated list (or repeated); without it only the default properties come
  back (`createdate`, `email`, `firstname`, `hs_object_id`, `lastmodifieddate`, `lastname`); a name
  the object does not have is ignored, a known one without a value is `null`; every value is a
  string (numbers and dates too).
- `archived=false` (the default) lists live records only, `archived=true` only archived ones
  (with `archivedAt`).
- `limit` defaults to 10 and is capped at 100; `after` is the opaque token of `paging.next.after`
  (the absolute `link` carries the same query).
- A private app's access token as `Authorization: Bearer pat-…`; without a valid one a 401
  `{"status": "error", "message", "correlationId", "category": "INVALID_AUTHENTICATION"}`.
- Every answer carries the `X-HubSpot-RateLimit-*` headers (a 10-second window and a daily one).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.kit import bearer, instants, millis_z, opaque, unwrap

CONTACTS = "/crm/v3/objects/contacts"
DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
PROPERTIES = (*DEFAULT_PROPERTIES, "company", "phone", "lifecyclestage", "num_associated_deals")
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "opportunity", "customer")


def hubspot_error(status: int, message: str, category: str) -> Response:
    return json_response({"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                          "category": category}, status)


class HubSpotCrm(SimApi):
    """A portal's contacts, created from January on and last modified up to just before NOW;
    `archived` of them are archived (never listed by `archived=false`)."""

    def __init__(self, contacts: int = 45, archived: int = 5, seed: int = 11):
        super().__init__()
        self.token = "pat-na1-" + fake_credential("hubspot")
        self.rng = random.Random(seed)
        self.answered: list[float] = []  # when each page was served (the usage headers)
        created = instants(self.rng, NOW - timedelta(days=70), NOW - timedelta(days=3), contacts,
                           timedelta(milliseconds=1))
        self.contacts: dict[str, dict] = {}
        for n, at in enumerate(created):
            cid = str(51 + n * 3)
            span = (NOW - timedelta(hours=1) - at) // timedelta(milliseconds=1)
            updated = at + timedelta(milliseconds=self.rng.randrange(1, span))
            self.contacts[cid] = {"id": cid, "createdAt": at, "updatedAt": updated, "archived": False,
                                  "values": self.values(n)}
        for cid in self.rng.sample(sorted(self.contacts), archived):
            self.contacts[cid]["archived"] = True
            self.contacts[cid]["archivedAt"] = self.contacts[cid]["updatedAt"]

    def values(self, n: int) -> dict:
        rng = self.rng
        return {"email": f"person{n}@example.com", "firstname": f"First{n}", "lastname": f"Last{n}",
                "company": rng.choice(("Acme", "Globex", "Initech", None)),
                "phone": rng.choice((None, f"+1-555-01{n:02d}")),
                "lifecyclestage": rng.choice(STAGES), "num_associated_deals": str(rng.randrange(0, 4))}

    def credentials(self) -> dict:
        """The secret's JSON (a `bearer` secret)."""
        return {"token": self.token}

    def live(self) -> dict[str, dict]:
        return {cid: c for cid, c in self.contacts.items() if not c["archived"]}

    def truth(self, since) -> dict[str, dict]:
        """Live contacts last modified at or after `since`, by id."""
        return {cid: c for cid, c in self.live().items() if c["updatedAt"] >= since}

    def change(self, count: int, at) -> list[str]:
        """Edit `count` live contacts at `at` (a new lifecycle stage); returns their ids."""
        chosen = self.rng.sample(sorted(self.live()), count)
        for offset, cid in enumerate(chosen):
            contact = self.contacts[cid]
            stage = contact["values"]["lifecyclestage"]
            contact["values"]["lifecyclestage"] = "evangelist" if stage == "customer" else "customer"
            contact["updatedAt"] = at + timedelta(milliseconds=offset)
        return chosen

    def archive(self, cid: str, at) -> None:
        """Archive a contact (HubSpot's "delete"): `archived=false` lists no longer show it."""
        self.contacts[cid].update(archived=True, archivedAt=at, updatedAt=at)

    def record(self, contact: dict, wanted: list[str]) -> dict:
        every = {**contact["values"], "createdate": millis_z(contact["createdAt"]),
                 "lastmodifieddate": millis_z(contact["updatedAt"]), "hs_object_id": contact["id"]}
        body = {"id": contact["id"], "properties": {p: every[p] for p in wanted if p in every},
                "createdAt": millis_z(contact["createdAt"]),
                "updatedAt": millis_z(contact["updatedAt"]), "archived": contact["archived"]}
        if contact["archived"]:
            body["archivedAt"] = millis_z(contact["archivedAt"])
        return body

    def route(self, request: Request) -> Response:
        if bearer(request) != self.token:
            return hubspot_error(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                 "authentication and you can find more details at "
                                 "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                 "INVALID_AUTHENTICATION")
        if request.path.rstrip("/") != CONTACTS:
            return hubspot_error(404, f"Unable to infer object type from: {request.path}", "OBJECT_NOT_FOUND")
        limit = request.args.get("limit", "10")
        if not limit.isdigit() or int(limit) < 1:
            return hubspot_error(400, f"Unable to parse limit '{limit}'", "VALIDATION_ERROR")
        size = min(int(limit), 100)
        after = 0
        if "after" in request.args:
            decoded = unwrap(request.args["after"])
            if decoded is None or not decoded.isdigit():
                return hubspot_error(400, f"Invalid after token '{request.args['after']}'",
                                     "VALIDATION_ERROR")
            after = int(decoded)
        archived = request.args.get("archived", "false").lower() == "true"
        wanted = [p for value in request.args.getlist("properties") for p in value.split(",") if p] \
            or list(DEFAULT_PROPERTIES)
        wanted = [p for p in dict.fromkeys(wanted) if p in PROPERTIES]
        rows = sorted((c for c in self.contacts.values()
                       if c["archived"] == archived and int(c["id"]) >= after), key=lambda c: int(c["id"]))
        body: dict = {"results": [self.record(c, wanted) for c in rows[:size]]}
        if len(rows) > size:
            token = opaque(rows[size]["id"])
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "after"]
            body["paging"] = {"next": {"after": token, "link": f"{request.host_url}crm/v3/objects/contacts?"
                                                                f"{urlencode([*query, ('after', token)])}"}}
        return json_response(body, headers=self.usage())

    def usage(self) -> dict[str, str]:
        """HubSpot's usage headers: 190 requests per rolling 10 seconds, 650,000 a day."""
        now = time.monotonic()
        with self.lock:
            self.answered.append(now)
            recent = sum(1 for at in self.answered if now - at < 10)
            daily = len(self.answered)
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "190",
                "X-HubSpot-RateLimit-Remaining": str(max(0, 190 - recent)),
                "X-HubSpot-RateLimit-Daily": "650000",
                "X-HubSpot-RateLimit-Daily-Remaining": str(650000 - daily)}
