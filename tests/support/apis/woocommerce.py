"""WooCommerce's REST API v3 orders, written from WooCommerce's documentation
(woocommerce.github.io/woocommerce-rest-api-docs: "Introduction" — authentication, errors,
pagination — and "Orders": the order and line item properties, "List all orders").

`GET /wp-json/wc/v3/orders` answers a JSON array of orders; each order carries its `line_items`
(and `shipping_lines`, `tax_lines`, `fee_lines`, `coupon_lines`, `refunds`) inline:

- The REST API key as HTTP Basic (consumer key `ck_…` as the user, secret `cs_…` as the
  password), or as `consumer_key`/`consumer_secret` query parameters; anything else is a 401
  `{"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
  "data": {"status": 401}}`. Another path is WordPress's 404 `rest_no_route`.
- `page` (1-based) and `per_page` (default 10, 1 to 100, else a 400 `rest_invalid_param`); every
  answer has `X-WP-Total`, `X-WP-TotalPages` and a `Link` header with `prev`/`next` URLs that
  keep every query parameter. A page past the last is `[]`.
- `modified_after`/`modified_before` (and `after`/`before` on the creation date) are ISO 8601 and
  **exclusive** (WordPress's date query, `inclusive` false). A bound without an offset is in the
  site's time zone, or GMT with `dates_are_gmt=true`. `orderby` `date` (default) or `id`,
  `order` `desc` (default) or `asc`; `status` `any` (the default: every status but `trash`) or a
  list of statuses, comma-separated as WordPress reads array parameters (`any,trash`).
- Every date comes twice, without an offset: `date_modified` in the site's time zone (UTC-5 here,
  no daylight saving) and `date_modified_gmt`; whole seconds. Money is a string with two
  decimals; a line item's `price` is a JSON number.
- Line item ids come from one counter of the store (they are order item ids): a line added by an
  edit gets a new id, a removed line is gone from the order.
"""

from __future__ import annotations

import math
import random
import secrets
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, basic_credentials, json_response
from tests.support.apis.kit import instants

ORDERS = "/wp-json/wc/v3/orders"
SITE = timezone(timedelta(hours=-5))  # the shop's time zone
TAX = Decimal("0.075")
PRODUCTS = [  # product id, variation id, name, SKU, price
    (93, 0, "Woo Single #1", "WOO-1", Decimal("3.00")),
    (22, 23, "Ship Your Idea - Black, M", "Bar3", Decimal("12.00")),
    (31, 0, "Beanie", "BEANIE", Decimal("18.50")),
    (40, 41, "Hoodie - Blue", "HOOD-B", Decimal("45.00")),
    (57, 0, "Sunglasses", "SUN-9", Decimal("90.00")),
]
STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def local(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(SITE).strftime("%Y-%m-%dT%H:%M:%S")


def gmt(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error(code: str, message: str, status: int) -> Response:
    return json_response({"code": code, "message": message, "data": {"status": status}}, status)


class WooCommerceStore(SimApi):
    """A shop's orders, created over five weeks before NOW, each with one to four line items and a
    flat-rate shipping line. `edit` changes an order as the shop admin does; `delete` removes it
    for good (`DELETE …/orders/<id>?force=true`)."""

    def __init__(self, orders: int = 24, seed: int = 11):
        super().__init__()
        self.consumer_key = "ck_" + secrets.token_hex(20)
        self.consumer_secret = "cs_" + secrets.token_hex(20)
        self.rng = random.Random(seed)
        self.next_item = 315
        created = instants(self.rng, NOW - timedelta(days=35), NOW - timedelta(hours=3), orders)
        self.orders: dict[int, dict] = {}
        for n, at in enumerate(created):
            order = self.new_order(727 + n * 3, at)
            self.orders[order["id"]] = order

    def credentials(self) -> dict:
        """The secret's JSON (a `basic` secret with these key names)."""
        return {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret}

    def item_id(self) -> int:
        self.next_item += 1
        return self.next_item

    def line(self, product: int | None = None, quantity: int | None = None) -> dict:
        product_id, variation_id, name, sku, price = PRODUCTS[
            self.rng.randrange(len(PRODUCTS)) if product is None else product]
        return {"id": self.item_id(), "name": name, "product_id": product_id, "variation_id": variation_id,
                "quantity": quantity or self.rng.randrange(1, 4), "tax_class": "", "sku": sku,
                "price": float(price) if price % 1 else int(price), "parent_name": None,
                "meta_data": [{"id": self.item_id(), "key": "pa_color", "value": "black"}] if variation_id
                else []}

    def new_order(self, order_id: int, created: datetime) -> dict:
        span = int((NOW - created).total_seconds()) - 3600
        modified = created + timedelta(seconds=self.rng.randrange(0, span))
        status = self.rng.choice(STATUSES)
        paid = created + timedelta(minutes=2) if status in ("processing", "completed", "refunded") else None
        customer = self.rng.choice((("John", "Doe", 12), ("Ana", "Silva", 31), ("Guest", "Buyer", 0)))
        address = {"first_name": customer[0], "last_name": customer[1], "company": "",
                   "address_1": "969 Market", "address_2": "", "city": "San Francisco", "state": "CA",
                   "postcode": "94103", "country": "US"}
        order = {
            "id": order_id, "parent_id": 0, "number": str(order_id), "order_key": f"wc_order_{order_id:x}a1",
            "created_via": "checkout", "version": "8.6.1", "status": status, "currency": "USD",
            "_created": created, "_modified": modified, "_paid": paid,
            "_completed": modified if status == "completed" else None,
            "prices_include_tax": False, "customer_id": customer[2], "customer_ip_address": "203.0.113.9",
            "customer_user_agent": "Mozilla/5.0",
            "customer_note": "" if order_id % 4 else "Leave at the door",
            "billing": {**address, "email": f"{customer[0].lower()}@example.com", "phone": "(555) 555-5555"},
            "shipping": address, "payment_method": "bacs", "payment_method_title": "Direct Bank Transfer",
            "transaction_id": "", "cart_hash": secrets.token_hex(16), "meta_data": [],
            "line_items": [self.line() for _ in range(self.rng.randrange(1, 5))],
            "shipping_lines": [{"id": self.item_id(), "method_title": "Flat rate", "method_id": "flat_rate",
                                "instance_id": "1", "total": "10.00", "total_tax": "0.00", "taxes": [],
                                "meta_data": []}],
            "tax_lines": [], "fee_lines": [], "coupon_lines": [], "refunds": [],
        }
        self.price(order)
        return order

    @staticmethod
    def price(order: dict) -> None:
        """Line and order totals from the quantities (7.5% tax on every line)."""
        cart = tax = Decimal(0)
        for line in order["line_items"]:
            subtotal = Decimal(str(line["price"])) * line["quantity"]
            line_tax = (subtotal * TAX).quantize(Decimal("0.01"))
            line.update(subtotal=money(subtotal), subtotal_tax=money(line_tax), total=money(subtotal),
                        total_tax=money(line_tax),
                        taxes=[{"id": 75, "total": money(line_tax), "subtotal": money(line_tax)}])
            cart, tax = cart + subtotal, tax + line_tax
        shipping = sum(Decimal(s["total"]) for s in order["shipping_lines"])
        order.update(discount_total="0.00", discount_tax="0.00", shipping_total=money(shipping),
                     shipping_tax="0.00", cart_tax=money(tax), total_tax=money(tax),
                     total=money(cart + tax + shipping))

    def edit(self, order_id: int, at: datetime, add: int = 0, remove: tuple[int, ...] = (),
             quantities: dict[int, int] | None = None, status: str | None = None) -> dict:
        """The shop admin edits an order at `at`: `add` new lines, `remove` lines (by item id),
        set `quantities` (item id → quantity) or the `status` (`trash`: moved to the bin); totals
        are recomputed."""
        order = self.orders[order_id]
        order["status"] = status or order["status"]
        order["line_items"] = [line for line in order["line_items"] if line["id"] not in remove]
        for line in order["line_items"]:
            line["quantity"] = (quantities or {}).get(line["id"], line["quantity"])
        order["line_items"] += [self.line() for _ in range(add)]
        order["_modified"] = at
        self.price(order)
        return order

    def delete(self, order_id: int) -> None:
        del self.orders[order_id]

    @staticmethod
    def public(order: dict) -> dict:
        names = ("created", "modified", "paid", "completed")
        dates = {f"date_{name}": local(order[f"_{name}"]) for name in names}
        dates.update({f"date_{name}_gmt": gmt(order[f"_{name}"]) for name in names})
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        links = {"self": [{"href": f"https://shop.example.com{ORDERS}/{order['id']}"}],
                 "collection": [{"href": f"https://shop.example.com{ORDERS}"}]}
        return {**shown, **dates, "_links": links}

    def truth(self) -> dict[int, dict]:
        """Every order as the API shows it, by id."""
        return {n: self.public(order) for n, order in self.orders.items()}

    def lines(self, kind: str = "line_items") -> dict[tuple[int, int], dict]:
        """(order id, item id) → the item, with its place in its order."""
        return {(n, item["id"]): {**item, "_position": at} for n, order in self.orders.items()
                for at, item in enumerate(order[kind])}

    def route(self, request: Request) -> Response:
        if request.path != ORDERS:
            return error("rest_no_route", "No route was found matching the URL and request method", 404)
        args = request.args
        key = basic_credentials(request) or (args.get("consumer_key"), args.get("consumer_secret"))
        if key != (self.consumer_key, self.consumer_secret):
            return error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
        try:
            per_page = int(request.args.get("per_page", 10))
            page = int(request.args.get("page", 1))
            if not 1 <= per_page <= 100 or page < 1:
                raise ValueError
            rows = self.select(request.args)
        except ValueError:
            return error("rest_invalid_param", "Invalid parameter(s): per_page, page or a date", 400)
        pages = math.ceil(len(rows) / per_page)
        body = [self.public(o) for o in rows[(page - 1) * per_page: page * per_page]]
        return json_response(body, headers={"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages),
                                            **self.links(request, page, pages)})

    def select(self, args) -> list[dict]:
        as_gmt = args.get("dates_are_gmt", "false").lower() in ("1", "true")
        rows = list(self.orders.values())
        for name, column, keep in (("modified_after", "_modified", lambda v, b: v > b),
                                   ("modified_before", "_modified", lambda v, b: v < b),
                                   ("after", "_created", lambda v, b: v > b),
                                   ("before", "_created", lambda v, b: v < b)):
            if name in args:
                bound = datetime.fromisoformat(args[name].replace("Z", "+00:00"))
                bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC if as_gmt else SITE)
                rows = [o for o in rows if keep(o[column], bound)]
        statuses = {s for value in args.getlist("status") or ["any"] for s in value.split(",")}
        rows = [o for o in rows if o["status"] in statuses or ("any" in statuses and o["status"] != "trash")]
        orderby = args.get("orderby", "date")
        if orderby not in ("date", "id"):
            raise ValueError(orderby)
        return sorted(rows, key=lambda o: (o["_created"], o["id"]) if orderby == "date" else o["id"],
                      reverse=args.get("order", "desc") == "desc")

    @staticmethod
    def links(request: Request, page: int, pages: int) -> dict[str, str]:
        base = request.base_url

        def link(number: int, rel: str) -> str:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
            query.append(("page", str(number)))
            return f'<{base}?{urlencode(query, quote_via=quote)}>; rel="{rel}"'

        found = [link(page - 1, "prev")] if 1 < page <= pages + 1 else []
        found += [link(page + 1, "next")] if page < pages else []
        return {"Link": ", ".join(found)} if found else {}
