"""The bundled demo API ("demo shop"): a small, realistic, paginated JSON API.

- `GET /v1/orders`: page-number pagination (`page`, `per_page`) with `meta.total_pages`, filtered by
  `updated_since` (inclusive) / `updated_before` (exclusive) ISO datetimes; records nest a
  `shipping` object and a repeated `lines` list.
- `GET /v1/customers`: page-number pagination without totals (the walk ends on a short page),
  filtered by `modified_after` in epoch seconds; the body itself is the list.

Every call needs the `X-API-Key` header. The data is generated from a fixed seed, so it is the same
on every run; `updated_at` of some orders is later than their creation (status changes).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request, Response

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("pending", "paid", "shipped", "delivered", "refunded")
CITIES = (("Lisbon", "PT"), ("Berlin", "DE"), ("Austin", "US"), ("Osaka", "JP"), ("Lyon", "FR"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def generate(n_orders: int = 2400, n_customers: int = 300, seed: int = 7) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    customers = []
    for i in range(1, n_customers + 1):
        created = EPOCH + timedelta(minutes=rng.randrange(0, 60 * 24 * 150))
        city, country = rng.choice(CITIES)
        customers.append({
            "customer_id": f"C{i:05d}", "email": f"customer{i}@example.com",
            "name": f"Customer {i}", "country": country, "city": city,
            "signed_up_at": _iso(created),
            "updated_at": _iso(created + timedelta(hours=rng.randrange(0, 500))),
            "marketing_opt_in": rng.random() < 0.4,
        })
    orders = []
    for i in range(1, n_orders + 1):
        created = EPOCH + timedelta(seconds=rng.randrange(0, 3600 * 24 * 160))
        lines = [{"sku": f"SKU-{rng.randrange(1, 80):03d}", "quantity": rng.randrange(1, 5),
                  "unit_price": round(rng.uniform(2, 120), 2)} for _ in range(rng.randrange(1, 4))]
        city, country = rng.choice(CITIES)
        orders.append({
            "id": 100000 + i, "customer_id": f"C{rng.randrange(1, n_customers + 1):05d}",
            "status": rng.choice(STATUSES), "currency": "EUR",
            "total": round(sum(x["quantity"] * x["unit_price"] for x in lines), 2),
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))),
            "shipping": {"city": city, "country": country}, "lines": lines,
        })
    return {"orders": orders, "customers": customers}


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class DemoShopApi:
    def __init__(self, api_key: str, data: dict[str, list[dict]] | None = None):
        self.api_key = api_key
        self.data = data or generate()
        self.requests = 0
        self.outage: int | None = None  # set to e.g. 503 to simulate an outage

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests += 1
        return self._dispatch(request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if self.outage:
            return _json({"error": "service unavailable"}, self.outage)
        if request.headers.get("X-API-Key") != self.api_key:
            return _json({"error": "invalid or missing API key"}, 401)
        try:
            if request.path == "/v1/orders":
                return self._orders(request.args)
            if request.path == "/v1/customers":
                return self._customers(request.args)
        except (ValueError, KeyError) as exc:
            return _json({"error": f"bad request: {exc}"}, 400)
        return _json({"error": "not found"}, 404)

    def _orders(self, args) -> Response:
        rows = self.data["orders"]
        if "updated_since" in args:
            since = _parse_time(args["updated_since"])
            rows = [r for r in rows if _parse_time(r["updated_at"]) >= since]
        if "updated_before" in args:
            before = _parse_time(args["updated_before"])
            rows = [r for r in rows if _parse_time(r["updated_at"]) < before]
        rows = sorted(rows, key=lambda r: (r["updated_at"], r.get("id") or 0))
        page, per_page = int(args.get("page", 1)), min(int(args.get("per_page", 50)), 500)
        total_pages = max(1, math.ceil(len(rows) / per_page))
        items = rows[(page - 1) * per_page: page * per_page]
        return _json({"data": {"items": items},
                      "meta": {"page": page, "per_page": per_page, "total": len(rows),
                               "total_pages": total_pages}})

    def _customers(self, args) -> Response:
        rows = self.data["customers"]
        if "modified_after" in args:
            after = datetime.fromtimestamp(int(args["modified_after"]), UTC)
            rows = [r for r in rows if _parse_time(r["updated_at"]) >= after]
        rows = sorted(rows, key=lambda r: (r["updated_at"], r["customer_id"]))
        page, limit = int(args.get("page", 1)), min(int(args.get("limit", 100)), 500)
        return _json(rows[(page - 1) * limit: page * limit])


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
