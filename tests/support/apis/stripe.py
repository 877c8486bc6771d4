"""Stripe's Events API as a history of customers, written from Stripe's API reference (Events:
"List all events", "The Event object"; "The Customer object"; "Pagination"; "Authentication").

`GET /v1/events?type=customer.*&created[gte]=&created[lt]=&limit=&starting_after=` lists events
newest first as `{"object": "list", "url": "/v1/events", "has_more": bool, "data": [event…]}`; an
event is `{"id": "evt_…", "object": "event", "api_version", "created": <Unix seconds>, "type",
"data": {"object": {…}, "previous_attributes": {…}}, "livemode", "pending_webhooks", "request"}`,
and `data.object` is the whole object as it was after the change (for `customer.deleted`, as it
was when deleted). `type` takes a `*` wildcard: `customer.*` also matches `customer.discount.*`
and `customer.tax_id.*`, whose `data.object` is not a customer. `starting_after` is the id of the
last event of the previous page; `limit` is 1–100 (default 10). The secret key is sent as a bearer
token; anything else is a 401 `{"error": {"message", "type": "invalid_request_error"}}`. Stripe
keeps events for 30 days.

`history()` is the ground truth of the customer history table the example config builds
(config/stripe/customer_history.json): only the columns it keeps count as content, so an update
of a customer's `metadata` alone adds no version.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, fake_credential, json_response
from tests.support.apis.versions import Event, Version, versions_of

EVENTS = "/v1/events"
START = datetime(2026, 3, 1, tzinfo=UTC)
# the columns of schema/stripe/customer_history.json taken from the customer, by their path
COLUMNS = {"email": ("email",), "name": ("name",), "phone": ("phone",), "balance": ("balance",),
           "currency": ("currency",), "delinquent": ("delinquent",), "city": ("address", "city"),
           "country": ("address", "country"), "customer_created": ("created",)}


def error(status: int, message: str) -> Response:
    return json_response({"error": {"message": message, "type": "invalid_request_error"}}, status)


class StripeEvents(SimApi):
    def __init__(self, customers: int = 6):
        super().__init__()
        self.key = "sk_test_" + fake_credential("stripe")
        self.events: list[dict] = []  # oldest first
        self.customers: dict[str, dict] = {}
        for n in range(customers):
            self.create(START + timedelta(hours=5 * n, seconds=n))

    def credentials(self) -> dict:
        """The secret's JSON (a `bearer` secret)."""
        return {"token": self.key}

    # what happens at Stripe
    def create(self, at: datetime | None = None) -> str:
        n = len(self.customers) + 1
        at = at or self._next()
        cid = f"cus_{secrets.token_hex(7)}"
        self.customers[cid] = {
            "id": cid, "object": "customer", "created": int(at.timestamp()),
            "address": {"city": ["Lisbon", "Ghent", "Osaka"][n % 3], "country": ["PT", "BE", "JP"][n % 3],
                        "line1": f"{n} Main St", "line2": None, "postal_code": f"{1000 + n}", "state": None},
            "balance": 0, "currency": "eur" if n % 2 else None, "default_source": None, "delinquent": False,
            "description": None, "email": f"buyer{n}@example.com", "invoice_prefix": f"INV{n:04d}",
            "livemode": False, "metadata": {}, "name": f"Buyer {n}", "phone": None,
            "preferred_locales": [], "tax_exempt": "none"}
        self._event("customer.created", at, self.customers[cid])
        return cid

    def update(self, cid: str, at: datetime | None = None, **changes) -> dict:
        before = self.customers[cid]
        self.customers[cid] = after = {**before, **changes}
        changed = {k: before[k] for k in changes if before[k] != changes[k]}
        return self._event("customer.updated", at or self._next(), after, changed)

    def discount(self, cid: str) -> dict:
        """A coupon applied: a `customer.discount.created` event, whose object is a discount."""
        return self._event("customer.discount.created", self._next(),
                           {"id": f"di_{secrets.token_hex(6)}", "object": "discount", "customer": cid,
                            "coupon": {"id": "SPRING", "percent_off": 10}})

    def delete(self, cid: str) -> dict:
        return self._event("customer.deleted", self._next(), self.customers.pop(cid))

    def _next(self) -> datetime:
        return datetime.fromtimestamp(self.events[-1]["created"], UTC) + timedelta(minutes=41, seconds=7)

    def _event(self, kind: str, at: datetime, obj: dict, previous: dict | None = None) -> dict:
        event = {"id": f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2024-06-20",
                 "created": int(at.timestamp()), "type": kind,
                 "data": {"object": dict(obj), **({"previous_attributes": previous} if previous else {})},
                 "livemode": False, "pending_webhooks": 0,
                 "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": None}}
        self.events.append(event)
        return event

    # the ground truth
    def history(self) -> list[Version]:
        """Every version the customer history table should hold."""
        happened: dict[str, list[Event]] = {}
        for event in self.events:
            kind, obj = event["type"], event["data"]["object"]
            if obj["object"] != "customer":
                continue
            at = datetime.fromtimestamp(event["created"], UTC)
            happened.setdefault(obj["id"], []).append(
                (at, None if kind == "customer.deleted" else content(obj)))
        return versions_of(happened)

    # the API
    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return error(401, "Invalid API Key provided: sk_test_****")
        if request.path != EVENTS:
            return error(404, f"Unrecognized request URL (GET: {request.path}).")
        kind = request.args.get("type", "*")
        limit = int(request.args.get("limit", 10))
        if not 1 <= limit <= 100:
            return error(400, f"This value must be between 1 and 100 (it currently is {limit}).")
        lo, hi = int(request.args.get("created[gte]", 0)), int(request.args.get("created[lt]", 2**40))
        chosen = [e for e in reversed(self.events)
                  if lo <= e["created"] < hi and matches(kind, e["type"])]
        if after := request.args.get("starting_after"):
            ids = [e["id"] for e in chosen]
            if after not in ids:
                return error(400, f"No such event: '{after}'")
            chosen = chosen[ids.index(after) + 1:]
        return json_response({"object": "list", "url": EVENTS, "has_more": len(chosen) > limit,
                              "data": chosen[:limit]})


def matches(pattern: str, kind: str) -> bool:
    return kind.startswith(pattern[:-1]) if pattern.endswith("*") else kind == pattern


def content(customer: dict) -> dict:
    """The customer's values in the columns the history table keeps (as BigQuery returns them)."""
    values = {}
    for column, path in COLUMNS.items():
        value = customer
        for part in path:
            value = (value or {}).get(part)
        values[column] = value
    values["customer_created"] = datetime.fromtimestamp(values["customer_created"], UTC)
    return values
