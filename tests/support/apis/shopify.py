"""Shopify's GraphQL Admin API (`orders`), written from Shopify's documentation (shopify.dev: the
`orders` query, "Paginating results with GraphQL", search syntax, "GraphQL Admin API rate limits",
response status codes).

`POST /admin/api/2024-10/graphql.json` with `{"query", "variables"}` and the app's access token in
`X-Shopify-Access-Token`. The query's `orders(first:, after:, query:, sortKey:)` connection answers
`{"data": {"orders": {"edges": [{"cursor", "node"}], "pageInfo": {"hasNextPage", "endCursor",
"hasPreviousPage", "startCursor"}}}, "extensions": {"cost": ...}}`.

- Only the fields the query selects come back (a small selection-set reader: nested objects, the
  `lineItems(first:)` connection); a field `Order` does not have is an HTTP 200 `errors` answer
  (`undefinedField`) without `data`.
- Arguments are literals or `$variables`; `first` (or `last`) is required and at most 250; the
  search string in `query` takes `updated_at` / `created_at` with `:>`, `:>=`, `:<`, `:<=` or
  `:` and a quoted or bare ISO instant, terms joined by `AND`. An unknown search field is ignored
  with a warning in `extensions.search` (the results are then unfiltered, as on Shopify).
- Every answer carries `extensions.cost` (`requestedQueryCost`, `actualQueryCost`,
  `throttleStatus` with `maximumAvailable` 2000, `currentlyAvailable`, `restoreRate` 100). A query
  whose cost exceeds 1000 is refused (`MAX_COST_EXCEEDED`). The requests listed in
  `throttle_requests` (1 = the first POST) are answered once with HTTP 200 `{"errors":
  [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": {"cost": ...}}` and
  no `data`.
- Ids are global ids (`gid://shopify/Order/…`); money is a decimal string in `shopMoney.amount`;
  instants are whole seconds, `Z`.
- A missing or wrong token: HTTP 401 `{"errors": "[API] Invalid API key or access token
  (unrecognized login or wrong password)"}`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, iso_z, json_response
from tests.support.apis.kit import instants, opaque, unwrap

VERSION = "2024-10"
GRAPHQL = f"/admin/api/{VERSION}/graphql.json"
MAX_COST, BUCKET, RESTORE = 1000, 2000.0, 100.0
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\.\.\.|[$A-Za-z_][A-Za-z0-9_]*|[{}():,!\[\]=]|-?\d+')
_TERM = re.compile(r"^(\w+):(<=|>=|<|>)?'?([^']*)'?$")
_COMPARE = {"": lambda a, b: a == b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
_SEARCHABLE = {"updated_at": "_updated", "created_at": "_created"}


def order_number(order: dict) -> int:
    """The number at the end of a global id (`gid://shopify/Order/5800000000`)."""
    return int(order["id"].rsplit("/", 1)[1])


class QueryError(Exception):
    """A GraphQL error: answered as HTTP 200 with `errors` and no `data`."""

    def __init__(self, message: str, code: str, **extra: Any):
        super().__init__(message)
        self.code, self.extra = code, extra


def selections(tokens: list[str], at: int) -> tuple[dict, int]:
    """The selection set opening at `tokens[at]` (a `{`): field name → its own set or None;
    arguments are skipped (the connection's own are read by `arguments`)."""
    fields: dict[str, Any] = {}
    at += 1
    while tokens[at] != "}":
        name, at = tokens[at], at + 1
        if tokens[at] == "(":
            while tokens[at] != ")":
                at += 1
            at += 1
        sub = None
        if tokens[at] == "{":
            sub, at = selections(tokens, at)
        fields[name] = sub
    return fields, at + 1


def arguments(tokens: list[str], at: int, variables: dict) -> dict:
    """The `(name: value, …)` list opening at `tokens[at]`, `$variables` resolved."""
    args, at = {}, at + 1
    while tokens[at] != ")":
        name, value = tokens[at], tokens[at + 2]
        if value.startswith("$"):
            args[name] = variables.get(value[1:])
        elif value.startswith('"'):
            args[name] = json.loads(value)
        elif value.lstrip("-").isdigit():
            args[name] = int(value)
        else:
            args[name] = None if value == "null" else value
        at += 3 + (tokens[at + 3] == ",")
    return args


def project(value: Any, selection: dict | None, type_name: str) -> Any:
    """`value` cut down to the selected fields; an unknown field is a GraphQL error."""
    if selection is None or value is None:
        return value
    if isinstance(value, list):
        return [project(v, selection, type_name) for v in value]
    out = {}
    for name, sub in selection.items():
        if name == "__typename":
            out[name] = type_name
            continue
        if name not in value:
            raise QueryError(f"Field '{name}' doesn't exist on type '{type_name}'", "undefinedField",
                             typeName=type_name, fieldName=name)
        out[name] = project(value[name], sub, name[0].upper() + name[1:])
    return out


class ShopifyAdmin(SimApi):
    """A shop's orders, created over three weeks up to just before NOW; some updated later
    (paid, fulfilled, refunded). `throttle_requests` are answered THROTTLED once."""

    def __init__(self, orders: int = 40, seed: int = 3, throttle_requests: tuple[int, ...] = ()):
        super().__init__()
        self.token = "shpat_" + fake_credential("shopify").replace("-", "")
        self.throttle_requests = set(throttle_requests)
        self.throttled: list[int] = []  # the request numbers answered THROTTLED
        self.available = BUCKET
        rng = random.Random(seed)
        created = instants(rng, NOW - timedelta(days=21), NOW - timedelta(hours=2), orders)
        self.orders = [self.order(rng, n, at) for n, at in enumerate(created)]

    @staticmethod
    def order(rng: random.Random, n: int, created: datetime) -> dict:
        updated = created + timedelta(seconds=rng.randrange(0, int((NOW - created).total_seconds()) - 60))
        lines = [{"sku": f"SKU-{rng.randrange(100, 999)}", "quantity": rng.randrange(1, 4)}
                 for _ in range(rng.randrange(1, 4))]
        total = sum(Decimal(rng.randrange(500, 9000)) / 100 * line["quantity"] for line in lines)
        status = rng.choice(("PAID", "PENDING", "REFUNDED", "PARTIALLY_REFUNDED"))
        return {
            "id": f"gid://shopify/Order/{5800000000 + n * 7919}", "name": f"#{1001 + n}",
            "createdAt": iso_z(created), "updatedAt": iso_z(updated), "processedAt": iso_z(created),
            "displayFinancialStatus": status,
            "displayFulfillmentStatus": rng.choice(("FULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED")),
            "currencyCode": "EUR", "tags": rng.sample(["wholesale", "vip", "gift"], rng.randrange(0, 3)),
            "cancelledAt": None,
            "totalPriceSet": {"shopMoney": {"amount": str(total.quantize(Decimal("0.01"))),
                                            "currencyCode": "EUR"}},
            "customer": None if n % 6 == 0 else {"id": f"gid://shopify/Customer/{7200000000 + n % 9}"},
            "lineItems": {"edges": [{"node": line} for line in lines]},
            "_created": created, "_updated": updated,
        }

    def credentials(self) -> dict:
        """The secret's JSON (an `api_key` secret whose key is `access_token`)."""
        return {"access_token": self.token}

    def truth(self, since: datetime, until: datetime = NOW) -> dict[str, dict]:
        """The orders last updated in [since, until), by global id."""
        return {o["id"]: o for o in self.orders if since <= o["_updated"] < until}

    def route(self, request: Request) -> Response:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return json_response({"errors": "[API] Invalid API key or access token (unrecognized login or "
                                            "wrong password)"}, 401)
        if request.path != GRAPHQL or request.method != "POST":
            return json_response({"errors": "Not Found"}, 404)
        with self.lock:
            number = len(self.requests)
        try:
            payload = json.loads(request.get_data())
            return self.answer(payload.get("query") or "", payload.get("variables") or {}, number)
        except QueryError as exc:
            error = {"message": str(exc), "extensions": {"code": exc.code, **exc.extra}}
            return json_response({"errors": [error]})
        except (ValueError, AttributeError):
            return json_response({"errors": {"query": "Required parameter missing or invalid"}}, 400)

    def answer(self, query: str, variables: dict, number: int) -> Response:
        tokens = _TOKEN.findall(query)
        if "orders" not in tokens:
            raise QueryError("Field 'orders' must be queried in this test shop", "undefinedField")
        at = tokens.index("orders")
        args = arguments(tokens, at + 1, variables) if tokens[at + 1] == "(" else {}
        while tokens[at] != "{":
            at += 1
        selection, _ = selections(tokens, at)
        size = args.get("first") or args.get("last")
        if not size:
            raise QueryError("you must provide one of first or last", "argumentLiteralsIncompatible")
        if size > 250:
            raise QueryError(f"The page size ({size}) exceeds the maximum of 250", "BAD_REQUEST")
        node = (selection.get("edges") or {}).get("node") or {}
        requested = 2 + size * (1 + len([f for f, sub in node.items() if sub is not None]))
        if requested > MAX_COST:
            raise QueryError(f"Query cost is {requested}, which exceeds the single query max cost limit "
                             f"({MAX_COST}).", "MAX_COST_EXCEEDED", cost=requested, maxCost=MAX_COST)
        if number in self.throttle_requests and number not in self.throttled:
            self.throttled.append(number)
            return json_response({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": self.cost(requested, None, drain=False)}})
        rows, warnings = self.search(args.get("query"))
        page, more = self.page(rows, args, size)
        edges = [{"cursor": self.cursor(o, args), "node": project(self.public(o), node, "Order")}
                 for o in page]
        connection = {"edges": edges, "pageInfo": {
            "hasNextPage": more, "hasPreviousPage": bool(args.get("after")),
            "endCursor": edges[-1]["cursor"] if edges else None,
            "startCursor": edges[0]["cursor"] if edges else None}}
        extensions: dict[str, Any] = {"cost": self.cost(requested, 2 + len(page) * (requested - 2) // size)}
        if warnings:
            extensions["search"] = [{"path": ["orders"], "query": args.get("query"), "warnings": warnings}]
        return json_response({"data": {"orders": project(connection, selection, "OrderConnection")},
                              "extensions": extensions})

    @staticmethod
    def sort_key(args: dict) -> str:
        return "updatedAt" if args.get("sortKey") == "UPDATED_AT" else "id"

    def cursor(self, order: dict, args: dict) -> str:
        """Shopify's keyset cursor: the last id and sort value, base64 JSON."""
        return opaque(json.dumps({"last_id": order_number(order), "last_value": order[self.sort_key(args)]}))

    def page(self, rows: list[dict], args: dict, size: int) -> tuple[list[dict], bool]:
        """The `size` rows after the `after` cursor in the sort order, and whether more follow."""
        field, reverse = self.sort_key(args), args.get("reverse") == "true"
        keyed = sorted(((o[field] if field != "id" else order_number(o), order_number(o)), o) for o in rows)
        keyed = keyed[::-1] if reverse else keyed
        if args.get("after"):
            try:
                mark = json.loads(unwrap(args["after"]) or "")
                after = (mark["last_value"] if field != "id" else mark["last_id"], mark["last_id"])
            except (ValueError, KeyError, TypeError):
                raise QueryError(f"Invalid cursor for current pagination sort: {args['after']}",
                                 "BAD_REQUEST") from None
            keyed = [(k, o) for k, o in keyed if (k < after if reverse else k > after)]
        return [o for _, o in keyed[:size]], len(keyed) > size

    @staticmethod
    def public(order: dict) -> dict:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def search(self, text: str | None) -> tuple[list[dict], list[dict]]:
        """Shopify's search syntax, the part this shop knows; unknown fields only warn."""
        rows, warnings = list(self.orders), []
        for term in (text or "").split(" AND "):
            term = term.strip()
            if not term:
                continue
            match = _TERM.match(term)
            if not match or match[1] not in _SEARCHABLE:
                field = match[1] if match else term
                warnings.append({"field": field, "message": "Invalid search field for this query."})
                continue
            try:
                bound = datetime.fromisoformat(match[3].replace("Z", "+00:00"))
            except ValueError:
                warnings.append({"field": match[1], "message": f"Invalid date: {match[3]}"})
                continue
            bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
            column, compare = _SEARCHABLE[match[1]], _COMPARE[match[2] or ""]
            rows = [o for o in rows if compare(o[column], bound)]
        return rows, warnings

    def cost(self, requested: int, actual: int | None, drain: bool = True) -> dict:
        with self.lock:
            self.available = min(BUCKET, self.available + RESTORE) - (actual or 0 if drain else 0)
            available = self.available
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": {
            "maximumAvailable": BUCKET, "currentlyAvailable": available, "restoreRate": RESTORE}}
