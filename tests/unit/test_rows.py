"""Record → row (ingestion/rows/build.py), the compiled per-record hot path: values already of their
column's JSON type pass through, everything else is coerced, and a record that cannot be loaded is
rejected with a reason naming the column."""

from __future__ import annotations

import json
import math

import pytest

from ingestion.contract.config import load_entity
from ingestion.contract.errors import RecordError
from ingestion.rows.build import RowBuilder
from ingestion.rows.coerce import CoercionError

SCHEMA = [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "updated_at", "type": "TIMESTAMP"},
    {"name": "price", "type": "FLOAT"},
    {"name": "name", "type": "STRING"},
    {"name": "city", "type": "STRING"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "region", "type": "STRING", "mode": "REQUIRED"},
]
COMPUTED = {"_run_id": "r1", "_extracted_at": "2026-03-01T00:00:00Z", "_source_object": "gs://b/p"}


@pytest.fixture
def row(tmp_path):
    (tmp_path / "config/shop").mkdir(parents=True)
    (tmp_path / "schema/shop").mkdir(parents=True)
    config = {"base_url": "http://127.0.0.1:1", "request": {"path": "/items"}, "start_date": "2026-01-01",
              "records": {"path": "data", "fields": {"city": "address.city"}},
              "pagination": {"type": "single"},
              "cursor_field": "updated_at", "merge_keys": ["id"],
              "target": {"dataset": "shop", "table": "items"}}
    (tmp_path / "config/shop/items.json").write_text(json.dumps(config))
    (tmp_path / "schema/shop/items.json").write_text(json.dumps(SCHEMA))
    entity = load_entity("shop/items", tmp_path / "config", tmp_path / "schema")
    return RowBuilder.for_entity(entity).for_page(COMPUTED)


def test_plain_values_pass_through_and_the_rest_is_coerced(row):
    record = {"id": "7", "updated_at": "2026-03-01 10:00:00+01:00", "price": 3, "name": "lamp",
              "address": {"city": "Oslo"}, "tags": "red", "region": "eu", "unused": 1}
    assert row(record) == {"id": 7, "updated_at": "2026-03-01T09:00:00Z", "price": 3.0, "name": "lamp",
                           "city": "Oslo", "tags": ["red"], "region": "eu", **COMPUTED}
    canonical = {"id": 8, "updated_at": "2026-03-01T09:00:00Z", "price": 2.5, "region": "eu"}
    assert row(canonical) == {**canonical, **COMPUTED}


@pytest.mark.parametrize(("record", "error", "reason"), [
    ([1, 2], RecordError, "a record must be a JSON object, got list"),
    ({"updated_at": "2026-03-01T00:00:00Z", "region": "eu"}, RecordError, "missing id"),
    ({"id": 1, "updated_at": None, "region": "eu"}, RecordError, "missing updated_at"),
    ({"id": 1, "updated_at": "2026-03-01T00:00:00Z"}, CoercionError, "region: REQUIRED"),
    ({"id": 2**63, "updated_at": "2026-03-01T00:00:00Z", "region": "eu"}, CoercionError, "id: cannot"),
    ({"id": 1, "updated_at": "2026-02-30T00:00:00Z", "region": "eu"}, CoercionError, "updated_at: "),
    ({"id": 1, "updated_at": "2026-03-01T00:00:00Z", "region": "eu", "price": math.nan}, CoercionError,
     "price: cannot"),
])
def test_a_record_that_cannot_load_is_rejected_naming_the_column(row, record, error, reason):
    with pytest.raises(error) as raised:
        row(record)
    assert str(raised.value).startswith(reason)


def test_blank_strings_are_null_except_in_text_columns(row):
    record = {"id": 1, "updated_at": "2026-03-01T00:00:00Z", "price": " ", "name": "", "region": "eu"}
    assert row(record) == {"id": 1, "updated_at": "2026-03-01T00:00:00Z", "name": "", "region": "eu",
                           **COMPUTED}
