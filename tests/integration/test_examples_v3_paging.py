"""Example configs of two more paging families, loaded through the function against simulators
written from the vendors' documentation and compared with their ground truth:

- `config/shopify/orders.json`: Shopify's GraphQL Admin API — query and variables in a POST body,
  the window inside the search string of a variable, `pageInfo.endCursor` into `$after`, a
  THROTTLED answer in HTTP 200 retried, a GraphQL error failing the run with its message;
- `config/gitlab/issues.json`: GitLab's REST API — paged by the `X-Next-Page` response header
  (`X-Total` left out above a threshold), the project path URL-encoded in the path, and the
  `RateLimit-*` headers obeyed before the API has to answer 429.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.support.apis import NOW
from tests.support.apis.gitlab import GitLabIssues
from tests.support.apis.shopify import GRAPHQL, ShopifyAdmin
from tests.support.catalog import runs, sync
from tests.support.delivery import store_secret
from tests.support.tables import table, table_rows

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
PROJECTS = {"gitlab-org/gitlab": 30, "acme/platform": 45}


def fast(env, source: str) -> None:
    """No client-side rate limit in tests (the shipped one follows the vendor's published limit)."""
    env.edit_config(f"{source}/_source", lambda spec: spec["http"].update(requests_per_second=50))


def test_shopify_orders_through_graphql_cursor_connections_with_a_throttled_answer_retried(env, serve):
    api = ShopifyAdmin(orders=40, throttle_requests=(2,))
    serve(api, "SHOPIFY_SHOP_URL")
    store_secret(env.settings.project, "shopify-admin", api.credentials())
    dataset = env.copy_configs("shopify")
    env.edit_config("shopify/orders", lambda spec: spec["pagination"].update(page_size=5))
    fast(env, "shopify")

    run = sync(env, "shopify/orders")

    assert run.status == "succeeded", run
    loaded, truth = table(env, dataset, "orders", "id"), api.truth(MARCH)
    assert set(loaded) == set(truth) and all(key.startswith("gid://shopify/Order/") for key in loaded)
    for key, order in truth.items():
        row = loaded[key]
        for column in ("name", "displayFinancialStatus", "displayFulfillmentStatus", "currencyCode", "tags"):
            assert row[column] == order[column], (column, key)
        assert (row["createdAt"], row["updatedAt"]) == (order["_created"], order["_updated"]), key
        assert row["total_price"] == Decimal(order["totalPriceSet"]["shopMoney"]["amount"]), key
        assert row["customer_id"] == (order["customer"] or {}).get("id"), key
        assert row["line_items"] == [e["node"] for e in order["lineItems"]["edges"]], key

    bodies = [json.loads(r.get_data()) for r in api.requests]
    assert all(r.path == GRAPHQL and r.headers["X-Shopify-Access-Token"] == api.token for r in api.requests)
    assert {b["variables"]["query"] for b in bodies} == {
        "updated_at:>='2026-03-01T00:00:00Z' AND updated_at:<'2026-03-08T00:00:00Z'",
        "updated_at:>='2026-03-08T00:00:00Z' AND updated_at:<'2026-03-10T12:30:00Z'"}
    assert all(b["variables"]["first"] == 5 for b in bodies)
    windows = [(MARCH, datetime(2026, 3, 8, tzinfo=UTC)), (datetime(2026, 3, 8, tzinfo=UTC), NOW)]
    pages = sum(max(1, math.ceil(len(api.truth(*w)) / 5)) for w in windows)
    assert len(bodies) == pages + 1  # every page once, the THROTTLED one twice...
    assert api.throttled == [2] and bodies[2] == bodies[1]  # ...sent again as it was
    assert sum(bool(b["variables"].get("after")) for b in bodies) == pages - 2 + 1  # endCursor into $after


def test_a_graphql_error_in_an_http_200_fails_the_run_with_the_apis_message(env, serve):
    api = ShopifyAdmin(orders=5)
    serve(api, "SHOPIFY_SHOP_URL")
    store_secret(env.settings.project, "shopify-admin", api.credentials())
    dataset = env.copy_configs("shopify")
    fast(env, "shopify")
    env.edit_config("shopify/orders", lambda spec: spec["request"]["body"].update(
        query=spec["request"]["body"]["query"].replace("currencyCode tags", "currencyCode tags fulfilledAt")))

    with pytest.raises(Exception, match="Field 'fulfilledAt' doesn't exist on type 'Order'"):
        sync(env, "shopify/orders")

    [row] = runs(env)
    assert row["status"] == "failed" and "fulfilledAt" in row["error_message"], row
    assert len(api.requests) == 1 and table_rows(env, dataset, "orders") == []


def test_gitlab_issues_paged_by_the_next_page_header_even_without_totals(env, serve):
    api = GitLabIssues(PROJECTS, count_limit=10)
    serve(api, "GITLAB_URL")
    store_secret(env.settings.project, "gitlab-token", api.credentials())
    dataset = env.copy_configs("gitlab")
    env.edit_config("gitlab/issues", lambda spec: (spec["pagination"].update(page_size=5),
                                                  spec["fan_out"].update(items=list(PROJECTS))))
    fast(env, "gitlab")

    run = sync(env, "gitlab/issues")

    assert run.status == "succeeded", run
    loaded, truth = table(env, dataset, "issues", "id"), api.truth(MARCH)
    assert set(loaded) == set(truth)
    paths = {p["id"]: path for path, p in api.projects.items()}
    for key, issue in truth.items():
        row = loaded[key]
        for column in ("iid", "project_id", "title", "description", "state", "labels", "user_notes_count",
                       "web_url"):
            assert row[column] == issue[column], (column, key)
        assert row["project_path"] == paths[issue["project_id"]]
        assert row["author_username"] == issue["author"]["username"]
        assert row["updated_at"] == issue["_updated"], key
        assert row["closed_at"] == (issue["_updated"] if issue["state"] == "closed" else None), key

    raw = {r.environ["RAW_URI"].split("?")[0] for r in api.requests}
    assert raw == {"/api/v4/projects/gitlab-org%2Fgitlab/issues", "/api/v4/projects/acme%2Fplatform/issues"}
    assert all(r.headers["PRIVATE-TOKEN"] == api.token and r.args["per_page"] == "5"
               and r.args["order_by"] == "updated_at" and r.args["sort"] == "asc" for r in api.requests)
    assert {(r.args["updated_after"], r.args["updated_before"]) for r in api.requests} == {
        ("2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"), ("2026-03-08T00:00:00Z", "2026-03-10T12:30:00Z")}
    untotalled = [h for h in api.served if "x-total" not in h]
    assert untotalled and any(h["x-page"] != "1" for h in untotalled)  # paging went on without X-Total
    # each of the 4 queries (2 projects, 2 windows) ended on its page with an empty X-Next-Page
    assert sum(h["x-next-page"] == "" for h in api.served) == 4 == len(api.requests) - sum(
        h["x-next-page"] != "" for h in api.served)


def test_gitlab_ratelimit_headers_slow_the_client_down_before_a_429(env, serve):
    api = GitLabIssues({"gitlab-org/gitlab": 60}, rate_limit=(4, 1.0))
    serve(api, "GITLAB_URL")
    store_secret(env.settings.project, "gitlab-token", api.credentials())
    dataset = env.copy_configs("gitlab")
    env.edit_config("gitlab/issues", lambda spec: spec["pagination"].update(page_size=3))
    fast(env, "gitlab")

    run = sync(env, "gitlab/issues")

    assert run.status == "succeeded", run
    assert set(table(env, dataset, "issues", "id")) == set(api.truth(MARCH))
    assert len(api.requests) > 8  # more than two windows' worth of the budget
    assert api.throttled == []  # RateLimit-Remaining / RateLimit-Reset were obeyed: never a 429
