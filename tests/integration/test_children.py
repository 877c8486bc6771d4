"""Child tables (`children`) against bqemulator: WooCommerce orders with their line items and
shipping lines (config/woocommerce/orders.json, against tests/support/apis/woocommerce.py). Each
test compares all three tables with the shop's ground truth: orders edited in the shop admin
(a line added, one removed, a quantity changed), a crash at each point of the step followed by
the redelivery, an older version replayed late, children keyed by their place in the array, and
an order deleted from a complete snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ingestion.contract.errors import LeaseHeld
from tests.support.apis import NOW
from tests.support.apis.woocommerce import ORDERS, WooCommerceStore
from tests.support.catalog import deliver, sync
from tests.support.delivery import store_secret
from tests.support.faults import SimulatedCrash, crash_on_call
from tests.support.tables import table, table_rows

ENTITY = "woocommerce/orders"
MESSAGE = {"entity": ENTITY}
EDITED = NOW + timedelta(minutes=20)
LATER = NOW + timedelta(hours=1)


def open_shop(env, serve, page_size: int = 7, **config) -> tuple[WooCommerceStore, str]:
    """The shop on 127.0.0.1 and the shipped config pointed at it (small pages: several per run)."""
    api = WooCommerceStore()
    serve(api, "WOOCOMMERCE_URL")
    store_secret(env.settings.project, "woocommerce-rest", api.credentials())
    dataset = env.copy_configs("woocommerce")
    env.edit_config("woocommerce/_source", lambda spec: spec["http"].update(requests_per_second=50))

    def change(spec: dict) -> None:
        spec["request"]["params"]["per_page"] = str(page_size)
        spec.update(config)

    env.edit_config(ENTITY, change)
    return api, dataset


def gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def assert_tables_match_the_shop(env, dataset: str, api: WooCommerceStore, line_key: str = "id") -> None:
    """Every order once with its current values; every line of every order once, as it is now —
    nothing of a removed line, nothing of a deleted order; each line carries its order's lineage."""
    orders, truth = table(env, dataset, "orders", "id"), api.truth()
    assert sorted(orders) == sorted(truth)
    for n, order in truth.items():
        row = orders[n]
        assert (row["status"], row["total"], row["date_modified_gmt"], row["billing"]["email"]) == (
            order["status"], Decimal(order["total"]), gmt(order["date_modified_gmt"]),
            order["billing"]["email"]), n
        assert row["date_modified"] == datetime.fromisoformat(order["date_modified"])  # site-local DATETIME
    lines = table(env, dataset, "order_line_items", lambda r: (r["_parent_id"], r[line_key]))
    expected = {(n, line["id"] if line_key == "id" else line["_position"]): line
                for (n, _), line in api.lines().items()}
    assert sorted(lines) == sorted(expected)
    for key, line in expected.items():
        row = lines[key]
        assert (row["id"], row["_position"], row["sku"], row["quantity"], row["price"], row["total"]) == (
            line["id"], line["_position"], line["sku"], line["quantity"], Decimal(str(line["price"])),
            Decimal(line["total"])), key
        assert [t["total"] for t in row["taxes"]] == [Decimal(t["total"]) for t in line["taxes"]], key
        parent = orders[key[0]]
        assert (row["_run_id"], row["_extracted_at"]) == (parent["_run_id"], parent["_extracted_at"]), key
    shipping = table(env, dataset, "order_shipping_lines", lambda r: (r["_parent_id"], r["id"]))
    assert sorted(shipping) == sorted(api.lines("shipping_lines"))


def edit_three_orders(api: WooCommerceStore) -> tuple[int, int, int]:
    """A line added to one order, one removed from another, a quantity changed in a third."""
    several = [n for n, order in api.orders.items() if len(order["line_items"]) >= 2]
    added, removed, changed = several[0], several[1], several[2]
    api.edit(added, EDITED - timedelta(minutes=5), add=1)
    api.edit(removed, EDITED, remove=(api.orders[removed]["line_items"][0]["id"],))
    first = api.orders[changed]["line_items"][1]
    api.edit(changed, EDITED + timedelta(minutes=5), quantities={first["id"]: first["quantity"] + 5})
    return added, removed, changed


def test_an_order_edited_in_the_shop_brings_its_lines_along_added_removed_and_changed(env, serve):
    api, dataset = open_shop(env, serve)

    first = sync(env, ENTITY)

    assert first.status == "succeeded", first
    assert first.records == len(api.orders) and first.pages == -(-len(api.orders) // 7)
    assert first.unknown_fields == "_links"  # the arrays are read by the children
    assert_tables_match_the_shop(env, dataset, api)
    untouched = table(env, dataset, "order_line_items", lambda r: (r["_parent_id"], r["id"]))
    watermark = max(gmt(order["date_modified_gmt"]) for order in api.truth().values())

    edited = edit_three_orders(api)
    second = sync(env, ENTITY, now=LATER)

    assert second.status == "succeeded", second
    assert_tables_match_the_shop(env, dataset, api)
    resent = {n for n, row in table(env, dataset, "orders", "id").items() if row["_run_id"] == second.run_id}
    assert set(edited) <= resent < set(api.orders)  # the edits, and what the lookback read again
    now = table(env, dataset, "order_line_items", lambda r: (r["_parent_id"], r["id"]))
    assert {k: v for k, v in now.items() if k[0] not in resent} == {
        k: v for k, v in untouched.items() if k[0] not in resent}  # the other orders' lines: untouched
    # asked as WooCommerce documents it: Basic auth, exclusive GMT bounds without an offset (the
    # lookback re-reads the boundary), every page by the Link header (it keeps the filters)
    assert all(r.authorization.username == api.consumer_key and r.args["dates_are_gmt"] == "true"
               and r.args["per_page"] == "7" for r in api.requests)
    start = (watermark - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    assert {(r.args["modified_after"], r.args["modified_before"]) for r in api.requests} == {
        ("2026-02-01T00:00:00", "2026-03-10T12:30:00"), (start, "2026-03-10T13:30:00")}
    assert {r.args.get("page", "1") for r in api.requests} == {"1", "2", "3", "4"}


@pytest.mark.parametrize("point", [
    "ingestion.run.steps.merge_children",  # the orders' staging is loaded, nothing merged yet
    "ingestion.warehouse.children.load_child_staging",  # the line items are merged, the shipping lines not
    "ingestion.run.steps.merge_into_target",  # both children merged, the orders not
])
def test_a_crash_anywhere_in_the_step_then_the_redelivery_leaves_every_table_right(env, serve, mocker, point):
    api, dataset = open_shop(env, serve)
    assert deliver(env, MESSAGE, "m1").status == "succeeded"
    old_orders = table(env, dataset, "orders", "id")
    edit_three_orders(api)
    crash_on_call(mocker, point, call=2 if point.endswith("load_child_staging") else 1)

    with pytest.raises(SimulatedCrash):
        deliver(env, MESSAGE, "m2", now=LATER)

    assert table(env, dataset, "orders", "id") == old_orders  # the orders' MERGE never ran
    if point.endswith("merge_into_target"):  # children first: the new lines are already in
        lines = table(env, dataset, "order_line_items", lambda r: (r["_parent_id"], r["id"]))
        assert sorted(lines) == sorted(api.lines())
    with pytest.raises(LeaseHeld):  # Pub/Sub redelivers at once: the dead run's lease still holds
        deliver(env, MESSAGE, "m2", attempt=2, now=LATER)
    mocker.stopall()
    redelivered = deliver(env, MESSAGE, "m2", attempt=3, now=LATER + timedelta(minutes=15))

    assert redelivered.status == "succeeded", redelivered
    assert_tables_match_the_shop(env, dataset, api)


def test_an_older_version_replayed_late_changes_neither_the_order_nor_its_lines(env, serve):
    api, dataset = open_shop(env, serve)
    assert sync(env, ENTITY).status == "succeeded"
    edited = edit_three_orders(api)
    second = sync(env, ENTITY, now=LATER)
    assert second.status == "succeeded"

    # the first run's raw pages hold the edited orders as they were before the edits
    replayed = sync(env, ENTITY, "replay", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC),
                    now=LATER + timedelta(minutes=5))

    assert replayed.status == "succeeded" and replayed.records == len(api.orders), replayed
    assert_tables_match_the_shop(env, dataset, api)
    for name, parent in (("orders", "id"), ("order_line_items", "_parent_id"),
                         ("order_shipping_lines", "_parent_id")):
        loaded = table_rows(env, dataset, name)
        assert {r["_run_id"] for r in loaded if r[parent] in edited} == {second.run_id}, name


def test_children_without_keys_are_identified_by_their_place_in_the_array(env, serve):
    line_items = {"name": "line_items", "path": "line_items", "table": "order_line_items"}
    shipping = {"name": "shipping_lines", "path": "shipping_lines", "table": "order_shipping_lines",
                "keys": ["id"]}
    api, dataset = open_shop(env, serve, children=[line_items, shipping])
    assert sync(env, ENTITY).status == "succeeded"
    assert_tables_match_the_shop(env, dataset, api, line_key="_position")

    edit_three_orders(api)  # removing the first line moves every other line of that order up one place
    assert sync(env, ENTITY, now=LATER).status == "succeeded"

    assert_tables_match_the_shop(env, dataset, api, line_key="_position")


def test_an_order_gone_from_a_complete_snapshot_takes_its_lines_with_it(env, serve):
    api, dataset = open_shop(env, serve)
    assert sync(env, ENTITY, "historical_full").status == "succeeded"
    gone = next(iter(api.orders))
    assert any(n == gone for n, _ in api.lines())
    api.delete(gone)

    full = sync(env, ENTITY, "historical_full", now=LATER)

    assert full.status == "succeeded" and full.rows_deleted == 1, full
    assert_tables_match_the_shop(env, dataset, api)
    assert [r for r in table_rows(env, dataset, "order_line_items") if r["_parent_id"] == gone] == []


def test_the_child_tables_are_created_before_anything_is_fetched(env, serve):
    api, dataset = open_shop(env, serve)
    api.consumer_secret = "cs_revoked"  # every request is refused

    with pytest.raises(Exception, match="401"):
        sync(env, ENTITY)

    tables = ("orders", "order_line_items", "order_shipping_lines")
    assert [table_rows(env, dataset, name) for name in tables] == [[], [], []]
    assert all(r.path == ORDERS for r in api.requests)


@pytest.mark.parametrize("mode", ["hard_delete", "soft_delete"])
def test_an_order_moved_to_the_bin_takes_its_lines_along_unless_it_is_only_flagged(env, serve, mode):
    trashed = {"field": "status", "equals": "trash"}
    api, dataset = open_shop(env, serve, deletes={"when": trashed, "mode": mode})
    env.edit_config(ENTITY, lambda spec: spec["request"]["params"].update(status="any,trash"))
    assert sync(env, ENTITY).status == "succeeded"
    binned = next(n for n, order in api.orders.items() if len(order["line_items"]) >= 2)
    lines = {key for key in api.lines() if key[0] == binned}
    api.edit(binned, EDITED, status="trash")

    assert sync(env, ENTITY, now=LATER).status == "succeeded"

    orders = table(env, dataset, "orders", "id")
    loaded = {(r["_parent_id"], r["id"]) for r in table_rows(env, dataset, "order_line_items")}
    shipping = {r["_parent_id"] for r in table_rows(env, dataset, "order_shipping_lines")}
    if mode == "hard_delete":
        assert binned not in orders and not lines & loaded and binned not in shipping
        api.delete(binned)  # gone for good, as far as the tables are concerned
        assert_tables_match_the_shop(env, dataset, api)
    else:
        assert orders[binned]["_deleted"] is True and lines <= loaded and binned in shipping
