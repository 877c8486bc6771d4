"""A CRM whose contacts change over time and which serves every revision of them, in the style of
audit and property-history feeds: `GET /v1/contacts/versions?updated_since=&updated_before=&limit=&cursor=`
answers the revisions updated in `[since, before)`, oldest first, as `{"data": [...], "next_cursor":
"<opaque>" | null}`. A revision is the whole contact (`id`, `email`, `plan`, `seats`, `address`,
`tags`, `updated_at` in milliseconds with `Z`) and `deleted: true` when it records a deletion.

What happens to the contacts is what a history (SCD2) table must follow: a contact changes; is
touched (a revision with a newer `updated_at` and the same content); gets a revision dated in the
past that the API publishes late; is flagged deleted; comes back; is erased — its revisions vanish
from every query, and `GET /v1/contacts/deleted` (the same parameters) lists a tombstone,
`{"deleted": [{"contact_id", "deleted_at"}], "next_cursor"}`, unless it is purged silently, which
only a complete snapshot notices. `history()` is the ground truth: every version the table should
hold (`versions_of`, which tests/support/apis/stripe.py shares).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, json_response
from tests.support.apis.kit import millis_z, opaque, unwrap

START = datetime(2026, 3, 1, tzinfo=UTC)
PLANS = ("free", "team", "business")
CITIES = (("Lisbon", "PT"), ("Ghent", "BE"), ("Osaka", "JP"), ("Quito", "EC"))
SCHEMA = [
    {"name": "id", "type": "INT64", "mode": "REQUIRED", "description": "Contact id."},
    {"name": "email", "type": "STRING"},
    {"name": "plan", "type": "STRING"},
    {"name": "seats", "type": "INT64"},
    {"name": "address", "type": "RECORD", "fields": [
        {"name": "city", "type": "STRING"}, {"name": "country", "type": "STRING"}]},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "updated_at", "type": "TIMESTAMP", "description": "When this revision was made."},
]
CONTENT = ("email", "plan", "seats", "address", "tags")
CONFIG = {
    "description": "Contacts with every revision kept (target.write history).",
    "base_url": "${CONTACTS_API_URL}",
    "request": {"path": "/v1/contacts/versions"},
    "records": {"path": "data"},
    "pagination": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor",
                   "size_param": "limit", "page_size": 4},
    "date_filter": {"start_param": "updated_since", "end_param": "updated_before",
                    "format": "iso_datetime_z", "step": "P3D"},
    "cursor_field": "updated_at",
    "merge_keys": ["id"],
    "start_date": "2026-03-01",
    "http": {"max_retries": 1, "backoff_factor": 0},
    "deletes": {"when": {"field": "deleted", "equals": True}},
    "target": {"table": "contacts", "write": "history"},
}


@dataclass
class Revision:
    id: int
    updated_at: datetime
    content: dict
    deleted: bool = False
    erased: bool = False  # gone from every query (the contact was erased)


@dataclass
class Version:
    """One row of the history table, as the ground truth has it."""

    id: Any
    valid_from: datetime
    valid_to: datetime | None
    content: dict = field(default_factory=dict)


Event = tuple[datetime, dict | None]  # (when, the content then) — None: deleted then


def versions_of(events: dict[Any, list[Event]]) -> list[Version]:
    """The history table's rows by (key, valid_from), from what happened to each record: in time
    order, content equal to the open version's adds none, a deletion closes the open version (at
    one instant a deletion comes last), any other content closes it and opens its own."""
    versions: list[Version] = []
    for key in sorted(events):
        open_: Version | None = None
        for at, content in sorted(events[key], key=lambda e: (e[0], e[1] is None)):
            if open_ is not None and content == open_.content:
                continue
            if open_ is not None:
                open_.valid_to = at
            open_ = None if content is None else Version(key, at, None, content)
            if open_ is not None:
                versions.append(open_)
    return versions


class ContactVersionsApi(SimApi):
    def __init__(self, count: int = 8):
        super().__init__()
        self.revisions: list[Revision] = []
        self.tombstones: list[tuple[int, datetime]] = []
        self.purged: set[int] = set()  # erased without a tombstone
        for n in range(1, count + 1):
            city, country = CITIES[n % len(CITIES)]
            self._add(n, START + timedelta(hours=7 * n, minutes=n), {
                "email": f"c{n}@example.com", "plan": PLANS[n % 3], "seats": n,
                "address": {"city": city, "country": country},
                "tags": ["vip"] if n % 4 == 0 else [f"t{n % 3}", "crm"]})

    # what happens at the source
    def change(self, n: int, at: datetime | None = None, **changes) -> Revision:
        """A new revision of contact `n`, changing the content it had then: now (just after the
        newest revision of all), or dated `at` — in the past for a revision published late."""
        at = at or self._next()
        return self._add(n, at, {**self.content_at(n, at), **changes})

    def touch(self, n: int, at: datetime | None = None) -> Revision:
        """A revision with a newer `updated_at` and the content contact `n` had then."""
        at = at or self._next()
        return self._add(n, at, dict(self.content_at(n, at)))

    def correct(self, n: int, **changes) -> Revision:
        """Contact `n`'s newest revision edited in place: other content, the same `updated_at`."""
        revision = max((r for r in self.revisions if r.id == n), key=lambda r: r.updated_at)
        revision.content = {**revision.content, **changes}
        return revision

    def flag_deleted(self, n: int, at: datetime | None = None) -> Revision:
        at = at or self._next()
        return self._add(n, at, dict(self.content_at(n, at)), deleted=True)

    def erase(self, n: int, at: datetime | None = None, tombstone: bool = True) -> datetime:
        """Contact `n` disappears from every query; with a tombstone saying when, or silently."""
        at = at or self._next()
        for revision in self.revisions:
            if revision.id == n:
                revision.erased = True
        if tombstone:
            self.tombstones.append((n, at))
        else:
            self.purged.add(n)
        return at

    def content_at(self, n: int, at: datetime) -> dict:
        """The content of contact `n`'s newest revision before `at`."""
        return max((r for r in self.revisions if r.id == n and r.updated_at < at),
                   key=lambda r: r.updated_at).content

    def _next(self) -> datetime:
        return max(r.updated_at for r in self.revisions) + timedelta(hours=1)

    def _add(self, n: int, at: datetime, content: dict, deleted: bool = False) -> Revision:
        self.revisions.append(Revision(n, at, content, deleted))
        return self.revisions[-1]

    # the ground truth
    def history(self, purged_at: datetime | None = None) -> list[Version]:
        """Every version the history table should hold; a contact purged silently is closed by the
        complete snapshot at `purged_at`."""
        events: dict[int, list[Event]] = {}
        for r in self.revisions:
            events.setdefault(r.id, []).append((r.updated_at, None if r.deleted else r.content))
        for n, at in self.tombstones:
            events[n].append((at, None))
        if purged_at is not None:
            for n in self.purged:
                events[n].append((purged_at, None))
        return versions_of(events)

    # the API
    def wire(self, r: Revision) -> dict:
        return {"id": r.id, **r.content, "updated_at": millis_z(r.updated_at), "deleted": r.deleted}

    def route(self, request: Request) -> Response:
        """Both lists take `updated_since`/`updated_before` (the time of the revision, or of the
        deletion) and page with `limit`/`cursor`."""
        if request.path == "/v1/contacts/versions":
            chosen = [(r.updated_at, r.id, self.wire(r)) for r in self.revisions if not r.erased]
            key = "data"
        elif request.path == "/v1/contacts/deleted":
            chosen = [(at, n, {"contact_id": n, "deleted_at": millis_z(at)}) for n, at in self.tombstones]
            key = "deleted"
        else:
            return json_response({"error": "not found"}, 404)
        lo, hi = (datetime.fromisoformat(request.args[p]) for p in ("updated_since", "updated_before"))
        chosen = sorted(c for c in chosen if lo <= c[0] < hi)
        offset = int(unwrap(request.args["cursor"], b"v:") or 0) if "cursor" in request.args else 0
        limit = int(request.args.get("limit", 4))
        more = offset + limit < len(chosen)
        return json_response({key: [body for _, _, body in chosen[offset:offset + limit]],
                              "next_cursor": opaque(str(offset + limit), b"v:") if more else None})
