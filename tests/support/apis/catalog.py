"""A product-catalog API whose records are type-messy, the way real APIs are: each record writes its
timestamp in another common format (Jira's `+0300`, epoch milliseconds, epoch seconds as text, a
naive `YYYY-MM-DD HH:MM:SS`, RFC 2822…), numbers and booleans arrive as strings, a nested object
has string numbers, and a list is sometimes a lone value or holds nulls.

Items live as canonical values (`truth()`); only the wire format is messy. Filtering on
`since`/`until` uses the canonical update instant, paging is `page`/`per_page` with `total_pages`.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, json_response

START = datetime(2026, 3, 1, tzinfo=UTC)
SCHEMA = [
    {"name": "id", "type": "INT64", "mode": "REQUIRED", "description": "Catalog item id."},
    {"name": "name", "type": "STRING"},
    {"name": "price", "type": "NUMERIC"},
    {"name": "quantity", "type": "INT64"},
    {"name": "active", "type": "BOOL"},
    {"name": "updated_at", "type": "TIMESTAMP", "description": "Last change, UTC."},
    {"name": "created_on", "type": "DATE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "dimensions", "type": "RECORD", "fields": [
        {"name": "weight_kg", "type": "FLOAT64"}, {"name": "boxes", "type": "INT64"}]},
]


def render_instant(value: datetime, style: int) -> object:
    """One of the timestamp spellings seen in the wild, chosen by `style`."""
    plus3 = value.astimezone(timezone(timedelta(hours=3)))
    return [
        lambda: plus3.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0300",
        lambda: int(value.timestamp() * 1000),
        lambda: str(int(value.timestamp())),
        lambda: value.strftime("%Y-%m-%d %H:%M:%S"),
        lambda: format_datetime(value.replace(microsecond=0), usegmt=True),
        lambda: value.isoformat().replace("+00:00", "Z"),
    ][style % 6]()


class CatalogApi(SimApi):
    def __init__(self, count: int = 20):
        super().__init__()
        self.items: dict[int, dict] = {}
        self.broken: dict[int, dict] = {}  # id → fields served instead of the real ones
        self.extra_fields: dict[str, object] = {}  # fields the API starts sending later
        self.refuse_from: datetime | None = None  # answer 400 for windows starting at/after it
        self.gate: threading.Event | None = None  # when set: hold every request until it opens
        self.entered = threading.Event()  # a request has arrived
        for n in range(1, count + 1):
            self.put(n)

    def put(self, n: int, **changes) -> dict:
        """Create item `n`, or change it: a change is the newest update the API has seen."""
        item = self.items.get(n) or {
            "id": n, "name": f"item {n}", "price": Decimal(n) * Decimal("1.25"), "quantity": n * 3,
            "active": n % 2 == 0, "updated_at": START + timedelta(hours=7 * n, minutes=n),
            "created_on": date(2026, 2, 1) + timedelta(days=n % 20),
            "tags": [f"t{n % 3}"] if n % 4 else [f"t{n % 3}", "sale"],
            "dimensions": {"weight_kg": n / 4, "boxes": n % 5 + 1},
        }
        if n in self.items:
            latest = max(i["updated_at"] for i in self.items.values())
            item = {**item, "updated_at": latest + timedelta(hours=1)}
        self.items[n] = {**item, **changes}
        return self.items[n]

    def remove(self, n: int) -> None:
        """The item is deleted at the source: no query returns it any more."""
        del self.items[n]

    def truth(self) -> dict[int, dict]:
        return self.items

    def wire(self, item: dict) -> dict:
        n = item["id"]
        record = {
            "id": str(n) if n % 2 else n,
            "name": item["name"],
            "price": str(item["price"]) if n % 3 else float(item["price"]),
            "quantity": f"{item['quantity']}" if n % 2 else float(item["quantity"]),
            "active": [("yes", "no"), ("true", "FALSE"), (1, 0), (True, False)][n % 4][
                0 if item["active"] else 1],
            "updated_at": render_instant(item["updated_at"], n),
            "created_on": item["created_on"].isoformat(),
            "tags": item["tags"][0] if len(item["tags"]) == 1 else [*item["tags"], None],
            "dimensions": {"weight_kg": str(item["dimensions"]["weight_kg"]),
                           "boxes": str(item["dimensions"]["boxes"])},
            "unused": {"deep": [1, 2]},
        }
        return {**record, **{k: v(item) if callable(v) else v for k, v in self.extra_fields.items()},
                **self.broken.get(n, {})}

    def route(self, request: Request) -> Response:
        if request.path != "/items":
            return json_response({"error": "not found"}, 404)
        since = datetime.fromisoformat(request.args["since"])
        until = datetime.fromisoformat(request.args["until"])
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(60)
        if self.refuse_from and since >= self.refuse_from:
            return json_response({"error": "since is out of the allowed range"}, 400)
        page, size = int(request.args.get("page", 1)), int(request.args.get("per_page", 5))
        chosen = [i for i in sorted(self.items.values(), key=lambda i: i["id"])
                  if since <= i["updated_at"] < until]
        pages = max(1, -(-len(chosen) // size))
        body = [self.wire(i) for i in chosen[(page - 1) * size: page * size]]
        return json_response({"data": body, "total_pages": pages})


CONFIG = {
    "description": "Catalog items (a type-messy test API).",
    "base_url": "${CATALOG_API_URL}",
    "request": {"path": "/items"},
    "records": {"path": "data"},
    "pagination": {"type": "page_number", "page_param": "page", "size_param": "per_page",
                   "page_size": 4, "total_pages_path": "total_pages"},
    "date_filter": {"start_param": "since", "end_param": "until", "format": "iso_datetime_z",
                    "step": "P3D"},
    "cursor_field": "updated_at",
    "merge_keys": ["id"],
    "start_date": "2026-03-01",
    "http": {"max_retries": 1, "backoff_factor": 0},
    "target": {"table": "items", "partition": {"field": "created_on"}, "cluster_by": ["name"]},
}
