"""GraphQL connections (Shopify Admin style) against a GraphQL server on 127.0.0.1, through the
production fetcher: the documented example config loads and pages, the window reaches a variable
(inside a search string or as a variable of its own), and broken answers end clearly."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from datetime import datetime, timedelta

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import load_entity
from ingestion.contract.errors import ApiError, ConfigError
from ingestion.contract.settings import ROOT
from ingestion.model import Window
from tests.support.extraction import WINDOW, extract, make_entity

TOKEN = "shpat_" + "f" * 16
FIELDS = [{"name": "id", "type": "STRING", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"},
          {"name": "created_at", "type": "TIMESTAMP"}, {"name": "updated_at", "type": "TIMESTAMP"},
          {"name": "total", "type": "NUMERIC"}, {"name": "currency", "type": "STRING"}]
_SEARCH = re.compile(r"^updated_at:>='([^']+)' AND updated_at:<'([^']+)'$")


def at(hours: float) -> datetime:
    return WINDOW.start + timedelta(hours=hours)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class OrdersApi:
    """Shopify-like `orders` connection: `first` (at most 250), `after` (an opaque cursor), a search
    `query` on updated_at or `updatedSince`/`updatedBefore` variables; edges with cursors and a
    pageInfo; the access token in X-Shopify-Access-Token."""

    def __init__(self, updated_hours=(-5, 1, 2, 3.5, 7, 20, 35, 40)):
        self.orders = [{"id": f"gid://shopify/Order/{100 + i}", "name": f"#{1000 + i}",
                        "createdAt": iso(at(h - 30)), "updatedAt": iso(at(h)),
                        "totalPriceSet": {"shopMoney": {"amount": f"{10 + i}.50", "currencyCode": "EUR"}}}
                       for i, h in enumerate(updated_hours)]
        self.variables: list[dict] = []

    def __call__(self, request: Request) -> Response:
        if request.method != "POST" or request.headers.get("X-Shopify-Access-Token") != TOKEN:
            return Response(json.dumps({"errors": "[API] Invalid API key or access token"}), 401,
                            content_type="application/json")
        body = request.get_json()
        variables = body.get("variables") or {}
        self.variables.append(variables)
        assert "orders(" in body["query"] and "pageInfo" in body["query"]
        if "query" in variables:
            low, high = _SEARCH.match(variables["query"]).groups()
        else:
            low, high = variables["updatedSince"], variables["updatedBefore"]
        rows = sorted((o for o in self.orders if low <= o["updatedAt"] < high), key=lambda o: o["updatedAt"])
        start = int(base64.b64decode(variables["after"])) + 1 if variables.get("after") else 0
        page = rows[start:start + min(variables["first"], 250)]
        edges = [{"cursor": base64.b64encode(str(start + i).encode()).decode(), "node": o}
                 for i, o in enumerate(page)]
        info = {"hasNextPage": start + len(page) < len(rows), "hasPreviousPage": start > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None}
        return Response(json.dumps({"data": {"orders": {"edges": edges, "pageInfo": info}},
                                    "extensions": {"cost": {"requestedQueryCost": 52}}}),
                        content_type="application/json")

    def updated_in(self, low: datetime, high: datetime) -> list[str]:
        return [o["id"] for o in sorted(self.orders, key=lambda o: o["updatedAt"])
                if iso(low) <= o["updatedAt"] < iso(high)]


def documented_example() -> dict:
    """The Shopify example of docs/config.md#graphql, as a user would copy it."""
    section = (ROOT / "docs/config.md").read_text().split("\n## GraphQL\n", 1)[1]
    return json.loads(section.split("```json\n", 1)[1].split("\n```", 1)[0])


def node_ids(pages) -> list[str]:
    return [r["id"] for p in pages for r in p.records]


def test_the_documented_shopify_example_pages_through_the_window(httpserver, tmp_path, monkeypatch):
    api = OrdersApi()
    httpserver.expect_request("/admin/api/2025-01/graphql.json", method="POST").respond_with_handler(api)
    example = documented_example()
    example["pagination"]["page_size"] = 2  # several pages from a few orders
    spec = {**example, "start_date": "2026-01-01", "target": {"dataset": "shop", "table": "orders"}}
    for folder, document in (("config", spec), ("schema", FIELDS)):
        (tmp_path / folder / "shop").mkdir(parents=True)
        (tmp_path / folder / "shop" / "orders.json").write_text(json.dumps(document))
    monkeypatch.setenv("SHOPIFY_SHOP", "acme")
    entity = load_entity("shop/orders", tmp_path / "config", tmp_path / "schema")  # schema + cross-checks
    assert entity.base_url == "https://acme.myshopify.com/admin/api/2025-01"
    entity = dataclasses.replace(entity, base_url=httpserver.url_for("/admin/api/2025-01"))

    pages = extract(entity, example["auth"], {"api_key": TOKEN})

    assert node_ids(pages) == api.updated_in(WINDOW.start, WINDOW.end) and len(node_ids(pages)) == 6
    assert [len(p.records) for p in pages] == [2, 2, 2]  # hasNextPage false ends it: no 4th request
    search = "updated_at:>='2026-03-01T00:00:00Z' AND updated_at:<'2026-03-02T12:00:00Z'"
    assert api.variables[0] == {"query": search, "first": 2}  # no `after` on the first page
    assert [v["after"] for v in api.variables[1:]] == ["MQ==", "Mw=="]  # each page's endCursor
    assert pages[0].records[0]["totalPriceSet"]["shopMoney"]["amount"] == "11.50"


def test_the_window_goes_into_variables_of_its_own(httpserver):
    api = OrdersApi()
    httpserver.expect_request("/api/graphql", method="POST").respond_with_handler(api)
    query = ("query Orders($first: Int!, $after: String, $since: DateTime!, $before: DateTime!) { "
             "orders(first: $first, after: $after, updatedSince: $since, updatedBefore: $before) { "
             "edges { node { id updatedAt } } pageInfo { hasNextPage endCursor } } }")
    entity = make_entity(
        httpserver,
        request={"path": "/graphql", "method": "POST", "body": {"query": query, "variables": {}},
                 "headers": {"X-Shopify-Access-Token": TOKEN}},
        records={"path": "data.orders.edges[*].node"},
        pagination={"type": "graphql", "page_info_path": "data.orders.pageInfo", "page_size": 3,
                    "cursor_variable": "after", "size_variable": "first"},
        date_filter={"in": "body", "start_param": "variables.updatedSince",
                     "end_param": "variables.updatedBefore", "format": "iso_datetime_z"})
    windows = [WINDOW, Window(WINDOW.end, WINDOW.end + timedelta(days=1))]

    pages = extract(entity, windows=windows)

    assert node_ids(pages) == api.updated_in(WINDOW.start, windows[1].end)
    assert [(v["updatedSince"], v["updatedBefore"], v.get("after")) for v in api.variables] == [
        ("2026-03-01T00:00:00Z", "2026-03-02T12:00:00Z", None),
        ("2026-03-01T00:00:00Z", "2026-03-02T12:00:00Z", "Mg=="),
        ("2026-03-02T12:00:00Z", "2026-03-03T12:00:00Z", None),  # a new window starts without a cursor
    ]


def graphql_entity(httpserver, **pagination):
    return make_entity(
        httpserver,
        request={"path": "/graphql", "method": "POST", "body": {"query": "query { orders { … } }"}},
        records={"path": "data.orders.nodes"},
        pagination={"type": "graphql", "page_info_path": "data.orders.pageInfo", **pagination})


def answer(ids: list[int], page_info: dict | None = None) -> dict:
    orders = {"nodes": [{"id": i} for i in ids]}
    return {"data": {"orders": orders if page_info is None else {**orders, "pageInfo": page_info}}}


def test_a_page_with_records_but_no_page_info_is_an_error_naming_the_path(httpserver):
    httpserver.expect_request("/api/graphql").respond_with_json(answer([1, 2]))
    with pytest.raises(ApiError, match=r"page_info_path path 'data.orders.pageInfo' not found .*; select "
                                       r"pageInfo \{ hasNextPage endCursor \} in the query"):
        extract(graphql_entity(httpserver))


def test_an_empty_answer_without_page_info_ends_the_walk(httpserver):
    httpserver.expect_request("/api/graphql").respond_with_json(answer([]))
    pages = extract(graphql_entity(httpserver))
    assert [p.records for p in pages] == [[]] and len(httpserver.log) == 1


@pytest.mark.parametrize("second_info, requests", [
    ({"hasNextPage": True, "endCursor": "c1"}, 2),  # the same cursor again: a broken API, not a loop
    ({"hasNextPage": True, "endCursor": None}, 2),
    ({"hasNextPage": False, "endCursor": "c2"}, 2),
])
def test_the_walk_ends_on_a_repeated_or_null_cursor_or_no_next_page(httpserver, second_info, requests):
    httpserver.expect_ordered_request("/api/graphql", json={
        "query": "query { orders { … } }", "variables": {"first": 1}}).respond_with_json(
        answer([1], {"hasNextPage": True, "endCursor": "c1"}))
    httpserver.expect_ordered_request("/api/graphql", json={
        "query": "query { orders { … } }", "variables": {"first": 1, "after": "c1"}}).respond_with_json(
        answer([2], second_info))
    pages = extract(graphql_entity(httpserver, page_size=1))
    assert node_ids(pages) == [1, 2] and len(httpserver.log) == requests


def test_graphql_paging_needs_the_query_posted_as_a_json_body(tmp_path):
    spec = {"base_url": "https://shop.example.com", "start_date": "2026-01-01", "merge_keys": ["id"],
            "request": {"path": "/graphql", "params": {"query": "{ orders { nodes { id } } }"}},
            "records": {"path": "data.orders.nodes"},
            "pagination": {"type": "graphql", "page_info_path": "data.orders.pageInfo",
                           "cursor_variable": "variables.after"},
            "target": {"dataset": "shop", "table": "orders"}}
    for folder, document in (("config", spec), ("schema", FIELDS)):
        (tmp_path / folder / "shop").mkdir(parents=True)
        (tmp_path / folder / "shop" / "orders.json").write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"pagination.cursor_variable: 'variables.after' does not match"):
        load_entity("shop/orders", tmp_path / "config", tmp_path / "schema")

    spec["pagination"].pop("cursor_variable")
    (tmp_path / "config/shop/orders.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=r"pagination graphql: the query goes in request.body .* with "
                                          r"request.method POST"):
        load_entity("shop/orders", tmp_path / "config", tmp_path / "schema")


def test_graphql_errors_in_a_200_answer_are_an_error_never_an_empty_page(httpserver):
    httpserver.expect_request("/api/graphql").respond_with_json(
        {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "data": None})
    with pytest.raises(ApiError, match=r"record path 'data\.orders\.nodes' not found"):
        extract(graphql_entity(httpserver))
