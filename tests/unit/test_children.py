"""Child tables (`children`, docs/config.md#child-tables): the rows built from each record's arrays,
a record and its children accepted or rejected as one, and the config checks a child must pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.contract.config import load_entity, validate_all
from ingestion.contract.errors import ConfigError
from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.children import ChildRows

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
ORDER = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "status", "type": "STRING"},
         {"name": "modified", "type": "TIMESTAMP"}]
LINE = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "sku", "type": "STRING"},
        {"name": "quantity", "type": "INT64"}, {"name": "price", "type": "NUMERIC"}]
TAG = [{"name": "value", "type": "STRING"}]
CONFIG = {"base_url": "https://shop.example.com", "start_date": "2026-01-01", "request": {"path": "/orders"},
          "records": {"path": ""}, "pagination": {"type": "single"}, "cursor_field": "modified",
          "merge_keys": ["id"], "target": {"dataset": "shop", "table": "orders"},
          "children": [{"name": "lines", "path": "line_items", "table": "order_lines", "keys": ["id"]},
                       {"name": "tags", "path": "meta.tags", "table": "order_tags"}]}


def write(tmp: Path, config: dict = CONFIG, schemas: dict | None = None) -> tuple[Path, Path]:
    """config/shop/orders.json and its schemas: `schemas` maps a file stem to its fields."""
    (tmp / "config/shop").mkdir(parents=True, exist_ok=True)
    (tmp / "schema/shop").mkdir(parents=True, exist_ok=True)
    (tmp / "config/shop/orders.json").write_text(json.dumps(config))
    for stem, fields in (schemas or {"orders": ORDER, "orders.lines": LINE, "orders.tags": TAG}).items():
        (tmp / f"schema/shop/{stem}.json").write_text(json.dumps(fields))
    return tmp / "config", tmp / "schema"


def load(tmp: Path, config: dict = CONFIG, schemas: dict | None = None):
    return load_entity("shop/orders", *write(tmp, config, schemas))


def page(records: list) -> Page:
    return Page(3, Slice(None, WINDOW), ApiResponse("u", 200, b"", None, records), WINDOW.end,
                source="gs://b/raw/page-000003.json", run_id="run-1")


def staged(entity, records: list) -> tuple[list[dict], list[dict], dict[str, list[dict]]]:
    children = ChildRows.for_entity(entity)
    rows, rejects, _ = page_rows(page(records), entity, RowBuilder.for_entity(entity), 10, children=children)
    return rows, rejects, children.take()


def order(n: int, lines: list, **more) -> dict:
    return {"id": n, "status": "paid", "modified": f"2026-03-01T0{n}:00:00Z", "line_items": lines, **more}


def test_each_line_becomes_a_row_of_its_table_keyed_by_its_order_and_tied_to_that_version(tmp_path):
    entity = load(tmp_path)
    rows, rejects, children = staged(entity, [
        order(1, [{"id": 11, "sku": "A", "quantity": "2", "price": "9.50"}, {"id": 12, "sku": "B"}],
              meta={"tags": ["gift", "vip"]}),
        order(2, [])])

    assert rejects == [] and [(r["id"], r["_seq"]) for r in rows] == [(1, 11), (2, 12)]
    lineage = {"_run_id": "run-1", "_extracted_at": "2026-03-02T00:00:00Z",
               "_source_object": "gs://b/raw/page-000003.json"}
    assert children["lines"] == [
        {"_parent_id": 1, "_position": 0, "id": 11, "sku": "A", "quantity": 2, "price": "9.5", "_seq": 11,
         **lineage},
        {"_parent_id": 1, "_position": 1, "id": 12, "sku": "B", "_seq": 11, **lineage}]
    # no keys: the place in the array identifies a tag; a scalar element is read into `value`
    assert [(t["_parent_id"], t["_position"], t["value"]) for t in children["tags"]] == [
        (1, 0, "gift"), (1, 1, "vip")]
    assert RowBuilder.for_entity(entity).unknown_keys([order(1, [], meta={})]) == set()  # read by children


def test_a_line_that_cannot_be_loaded_rejects_its_whole_order_and_none_of_its_lines_stay(tmp_path):
    entity = load(tmp_path)
    rows, rejects, children = staged(entity, [
        order(1, [{"id": 11, "quantity": 1}, {"id": 12, "quantity": "two"}]),
        order(2, [{"id": 21}, {"sku": "no id"}]),
        order(3, {"id": 31}),
        order(4, [{"id": 41, "quantity": 5}])])

    assert [r["id"] for r in rows] == [4]
    assert [r["reason"] for r in rejects] == [
        'lines[1].quantity: cannot read "two" as INT64',
        "lines[1]: missing id (merge keys and cursor_field must be present)",
        "lines: expected an array, got dict"]
    assert [(line["_parent_id"], line["id"]) for line in children["lines"]] == [(4, 41)]


def test_a_missing_or_null_array_means_no_children(tmp_path):
    entity = load(tmp_path)
    rows, rejects, children = staged(entity, [{"id": 1, "modified": "2026-03-01T01:00:00Z"},
                                              order(2, None, meta={"tags": None})])
    assert [r["id"] for r in rows] == [1, 2] and rejects == []
    assert children == {"lines": [], "tags": []}


def test_a_path_with_a_wildcard_collects_the_elements_of_several_arrays(tmp_path):
    config = {**CONFIG, "children": [{"name": "lines", "path": "lineItems.edges[*].node", "table": "lines",
                                      "keys": ["id"]}]}
    entity = load(tmp_path, config, {"orders": ORDER, "orders.lines": LINE})
    record = {"id": 1, "modified": "2026-03-01T01:00:00Z",
              "lineItems": {"edges": [{"node": {"id": 5, "sku": "X"}}, {"node": {"id": 6, "sku": "Y"}}]}}
    _, _, children = staged(entity, [record])
    assert [(c["id"], c["_position"]) for c in children["lines"]] == [(5, 0), (6, 1)]


def test_a_child_table_has_the_parent_keys_its_place_its_columns_and_the_lineage(tmp_path):
    entity = load(tmp_path, {**CONFIG, "merge_keys": ["id", "status"]})
    [lines, tags] = entity.children
    assert (lines.name, lines.path, lines.table) == ("lines", "line_items", "order_lines")
    assert lines.keys == ("id",)
    assert tags.keys == ()
    fields = entity.child_table_fields(lines)
    assert [(f["name"], f["type"]) for f in fields] == [
        ("_parent_id", "INT64"), ("_parent_status", "STRING"), ("_position", "INT64"), ("id", "INT64"),
        ("sku", "STRING"), ("quantity", "INT64"), ("price", "NUMERIC"), ("_run_id", "STRING"),
        ("_extracted_at", "TIMESTAMP"), ("_source_object", "STRING")]


def child(**changes) -> dict:
    return {**CONFIG, "children": [{**CONFIG["children"][0], **changes}]}


@pytest.mark.parametrize(("config", "schemas", "expected"), [
    (CONFIG, {"orders": ORDER, "orders.lines": LINE}, "orders.tags.json: file not found"),
    (CONFIG, {"orders": ORDER, "orders.lines": [{"name": "id", "type": "INTEGRAL"}], "orders.tags": TAG},
     "orders.lines.json: [0].type: 'INTEGRAL' is not one of"),
    (child(keys=["line_id"]), None, "children 'lines': key 'line_id' is not a column of the child's schema"),
    (child(table="orders"), None, "children: table 'orders' is used twice (the entity's own table counts)"),
    ({**CONFIG, "children": [CONFIG["children"][0], {**CONFIG["children"][1], "name": "lines"}]}, None,
     "children: name 'lines' is used twice"),
    (CONFIG, {"orders": ORDER, "orders.lines": [*LINE, {"name": "_position", "type": "INT64"},
                                                {"name": "_parent_id", "type": "INT64"}], "orders.tags": TAG},
     "children 'lines': _position, _parent_id are added by the loader; leave them out"),
    (child(keys=["id", "taxes"]),
     {"orders": ORDER, "orders.tags": TAG,
      "orders.lines": [*LINE, {"name": "taxes", "type": "RECORD", "mode": "REPEATED", "fields": TAG}]},
     "children 'lines': key 'taxes' must be a scalar column, not RECORD REPEATED"),
    ({**CONFIG, "target": {**CONFIG["target"], "write": "append"}}, None,
     "children: only with target.write merge, not append"),
    (child(path="line_items[*"), None, "children[0].path: "),
    (child(name="line-items"), None, "children[0].name: 'line-items' does not match"),
])
def test_a_bad_child_is_refused_naming_what_is_wrong(tmp_path, config, schemas, expected):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, config, schemas)
    assert expected in str(raised.value)


def test_validate_knows_child_schemas_and_names_an_orphan_one(tmp_path):
    config_dir, schema_dir = write(tmp_path)
    assert validate_all(config_dir, schema_dir) == {}
    orphan = schema_dir / "shop/orders.refunds.json"
    orphan.write_text(json.dumps(LINE))
    assert validate_all(config_dir, schema_dir) == {
        str(orphan): f"{orphan}: config/shop/orders.json has no children entry 'refunds'"}
