"""Zendesk Support tickets and their deletions, written from Zendesk's documentation
(developer.zendesk.com: "Incremental Exports" — the cursor-based ticket export; "List Deleted
Tickets"; cursor pagination; API token authentication).

- `GET /api/v2/incremental/tickets/cursor.json?start_time=<unix seconds>` answers every ticket
  changed at or after `start_time`, oldest change first, `per_page` at a time:
  `{"tickets": [...], "after_cursor", "after_url", "before_cursor", "end_of_stream"}`; the next page
  is asked with `cursor=<after_cursor>`, and `end_of_stream: true` marks the last one. A deleted
  ticket is exported too, with `"status": "deleted"` (unless `exclude_deleted=true`).
- `GET /api/v2/deleted_tickets?page[size]=&page[after]=` lists the tickets deleted in the last 30
  days and not yet scrubbed — oldest created first, whatever is asked — as
  `{"deleted_tickets": [{"id", "subject", "actor", "deleted_at", "previous_state"}], "meta":
  {"has_more", "after_cursor", "before_cursor"}, "links": {"next", "prev"}}`. It has no date
  filter: unknown query parameters are ignored, as Zendesk does.
- A deleted ticket can be restored (it comes back with its old status) until it is scrubbed.
- An API token: HTTP Basic with `{email}/token` and the token; anything else is a 401.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, basic_credentials, fake_credential, iso_z, json_response
from tests.support.apis.kit import opaque, unwrap

EXPORT = "/api/v2/incremental/tickets/cursor.json"
DELETED = "/api/v2/deleted_tickets"
START = datetime(2026, 3, 1, 6, tzinfo=UTC)
STATUSES = ("new", "open", "pending", "solved")


class ZendeskTickets(SimApi):
    """Tickets changed between 03-01 and 03-08; each later change happens 10 minutes after the
    latest one (all before the tests' NOW)."""

    def __init__(self, count: int = 24, per_page: int = 5):
        super().__init__()
        self.email, self.api_token = "agent@example.com", fake_credential("zendesk")
        self.per_page = per_page
        self.tickets: dict[int, dict] = {}
        self.deleted: dict[int, tuple[datetime, str]] = {}  # id → (deleted_at, previous status)
        for n in range(1, count + 1):
            at = START + timedelta(hours=6 * n, minutes=n)
            self.tickets[n] = {"id": 35436 + n, "subject": f"Printer {n} is on fire", "priority": "normal",
                               "status": STATUSES[n % 4], "created_at": at - timedelta(days=1),
                               "updated_at": at, "tags": ["printer"] if n % 2 else []}

    def credentials(self) -> dict:
        return {"username": f"{self.email}/token", "password": self.api_token}

    # changes at the source

    def _tick(self) -> datetime:
        return max(t["updated_at"] for t in self.tickets.values()) + timedelta(minutes=10)

    def update(self, n: int, **changes) -> dict:
        self.tickets[n] = {**self.tickets[n], **changes, "updated_at": self._tick()}
        return self.tickets[n]

    def delete(self, n: int) -> datetime:
        """Soft-delete ticket `n` (as an agent does): exported as status deleted, listed as deleted."""
        at = self._tick()
        self.deleted[n] = (at, self.tickets[n]["status"])
        self.tickets[n] = {**self.tickets[n], "status": "deleted", "updated_at": at}
        return at

    def restore(self, n: int) -> None:
        _, status = self.deleted.pop(n)
        self.update(n, status=status)

    def create(self, n: int) -> dict:
        at = self._tick()
        self.tickets[n] = {"id": 35436 + n, "subject": f"New ticket {n}", "priority": "high", "status": "new",
                           "created_at": at, "updated_at": at, "tags": []}
        return self.tickets[n]

    # ground truth, by ticket id

    def live(self) -> dict[int, dict]:
        return {t["id"]: t for t in self.tickets.values() if t["status"] != "deleted"}

    def gone(self) -> dict[int, datetime]:
        """Deleted ticket id → when it was deleted."""
        return {self.tickets[n]["id"]: at for n, (at, _) in self.deleted.items()}

    def newest_change(self) -> datetime:
        return max(t["updated_at"] for t in self.tickets.values() if t["status"] != "deleted")

    # the wire

    def route(self, request: Request) -> Response:
        if basic_credentials(request) != (f"{self.email}/token", self.api_token):
            return json_response({"error": "Couldn't authenticate you"}, 401)
        if request.path == EXPORT:
            return self.export(request)
        if request.path == DELETED:
            return self.deleted_list(request)
        return json_response({"error": "InvalidEndpoint", "description": "Not found"}, 404)

    def export(self, request: Request) -> Response:
        if "cursor" in request.args:
            position = unwrap(request.args["cursor"])
            if position is None:
                return json_response({"error": "InvalidPaginationParameter"}, 400)
            since, offset = position.split("|")
            start, skip = datetime.fromtimestamp(int(since), UTC), int(offset)
        elif "start_time" in request.args:
            start, skip = datetime.fromtimestamp(int(request.args["start_time"]), UTC), 0
        else:
            return json_response({"error": "InvalidValue", "description": "start_time is required"}, 400)
        size = int(request.args.get("per_page", self.per_page))
        keep_deleted = request.args.get("exclude_deleted") != "true"
        changed = sorted((t for t in self.tickets.values() if t["updated_at"] >= start
                          and (keep_deleted or t["status"] != "deleted")),
                         key=lambda t: (t["updated_at"], t["id"]))
        page = changed[skip: skip + size]
        after = opaque(f"{int(start.timestamp())}|{skip + len(page)}")
        return json_response({
            "tickets": [self.wire(t) for t in page], "after_cursor": after,
            "after_url": f"{request.host_url.rstrip('/')}{EXPORT}?cursor={after}", "before_cursor": None,
            "end_of_stream": skip + size >= len(changed)})

    def wire(self, ticket: dict) -> dict:
        return {**ticket, "url": f"https://example.zendesk.com/api/v2/tickets/{ticket['id']}.json",
                "created_at": iso_z(ticket["created_at"]), "updated_at": iso_z(ticket["updated_at"]),
                "requester_id": 20978392, "via": {"channel": "web"}}

    def deleted_list(self, request: Request) -> Response:
        size = min(int(request.args.get("page[size]", 100)), 100)
        after = request.args.get("page[after]")
        skip = int(unwrap(after) or 0) if after else 0
        listed = sorted(self.deleted, key=lambda n: self.tickets[n]["created_at"])
        page = listed[skip: skip + size]
        more = skip + size < len(listed)
        cursor = opaque(str(skip + len(page)))
        following = f"{request.host_url.rstrip('/')}{DELETED}?page[after]={cursor}"
        return json_response({
            "deleted_tickets": [{"id": self.tickets[n]["id"], "subject": self.tickets[n]["subject"],
                                 "description": "…", "actor": {"id": 3946, "name": "Taylor Agent"},
                                 "deleted_at": iso_z(self.deleted[n][0]),
                                 "previous_state": self.deleted[n][1]} for n in page],
            "meta": {"has_more": more, "after_cursor": cursor if more else None, "before_cursor": None},
            "links": {"next": following if more else None, "prev": None}})
