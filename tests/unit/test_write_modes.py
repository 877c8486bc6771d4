"""`target.write` and `deletes` without a warehouse: the config mistakes a user sees (named, before
any run), the rows a flagged record and a tombstone become, and the statement each write mode
runs. The tables they give are tested against bqemulator in tests/integration/test_write_modes.py
and test_deletes.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.contract.config import EntityConfig, cross_check
from ingestion.contract.errors import PayloadError
from ingestion.contract.payload import SyncRequest
from ingestion.model import ApiResponse, Page, Slice, Staging, Window
from ingestion.planning.plan import check_request
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.deletes import TombstoneRows
from ingestion.warehouse.writes import WRITE_MODES, staging_fields, write_mode
from tests.support.configs import entity_config

FIELDS = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "shop", "type": "STRING"},
          {"name": "status", "type": "STRING"}, {"name": "updated_at", "type": "TIMESTAMP"},
          {"name": "created_on", "type": "DATE"}]
TOMBSTONES = {"path": "/deleted", "records_path": "deleted", "key_fields": {"id": "object.id"},
              "deleted_at_field": "deleted_at"}
FLAG = {"field": "status", "equals": "deleted"}


def entity(spec: dict | None = None) -> EntityConfig:
    return entity_config({"cursor_field": "updated_at", **(spec or {})}, FIELDS)


def problems(spec: dict) -> list[str]:
    return cross_check(entity(spec))


@pytest.mark.parametrize(("spec", "problem"), [
    ({"target": {"write": "replace"}, "schedule": {"cron": "0 3 * * *"}},
     "target.write replace: a complete historical_full snapshot replaces the table; schedule.sync_mode "
     "incremental cannot"),
    ({"target": {"write": "replace"}, "full_refresh": {"absent_rows": "keep"}},
     "full_refresh.absent_rows keep contradicts it"),
    ({"target": {"write": "append"}, "full_refresh": {"absent_rows": "soft_delete"}},
     "target.write append never deletes"),
    ({"target": {"write": "append"}, "deletes": {"when": FLAG}},
     "deletes: for target.write merge or history, not append"),
    ({"deletes": {"endpoint": {**TOMBSTONES, "key_fields": {"id": "id", "shop": "shop"}}}},
     "deletes.endpoint.key_fields: 'shop' is not a merge key"),
    ({"merge_keys": ["shop", "id"], "deletes": {"endpoint": TOMBSTONES}},
     "deletes.endpoint.key_fields: name where a tombstone holds shop (every merge key"),
    ({"target": {"partition": {"field": "created_on", "immutable": True}},
      "deletes": {"endpoint": TOMBSTONES}},
     "name where a tombstone holds created_on"),
    ({"deletes": {"endpoint": {**TOMBSTONES, "key_fields": {"id": "items[*].id"}}}},
     "deletes.endpoint.key_fields.id: 'items[*].id' has [*]"),
    ({"deletes": {"endpoint": {**TOMBSTONES, "path": "/shops/{item}/deleted"}}},
     "{item} is used, but the entity has no fan_out"),
])
def test_config_mistakes_are_named(spec, problem):
    assert any(problem in p for p in problems(spec)), problems(spec)


def test_a_fan_out_column_key_fills_itself_in_a_tombstone():
    spec = {"merge_keys": ["shop", "id"], "fan_out": {"column": "shop", "items": ["a", "b"]},
            "deletes": {"endpoint": {**TOMBSTONES, "path": "/shops/{item}/deleted"}}}
    assert problems(spec) == []


def test_staging_only_columns_are_reserved():
    schema = [*FIELDS, {"name": "_delete", "type": "BOOL"}, {"name": "_tombstone", "type": "BOOL"}]
    assert "reserved column names in the schema: _delete, _tombstone" in cross_check(
        entity_config({"cursor_field": "updated_at"}, schema))


def test_soft_delete_adds_the_flag_columns_and_staging_has_the_delete_marks():
    soft = entity({"deletes": {"when": FLAG, "mode": "soft_delete"}})
    assert [f["name"] for f in soft.table_fields][-2:] == ["_deleted", "_deleted_at"]
    assert [f["name"] for f in staging_fields(soft)][-3:] == ["_seq", "_delete", "_tombstone"]
    hard = entity({"deletes": {"when": FLAG}})
    assert "_deleted" not in {f["name"] for f in hard.table_fields}
    assert [f["name"] for f in staging_fields(hard)][-4:] == ["_seq", "_delete", "_tombstone", "_deleted_at"]


@pytest.mark.parametrize("mode", ["incremental", "incremental_window", "replay"])
def test_a_replace_entity_refuses_anything_but_historical_full(mode):
    replace = entity({"target": {"write": "replace"}})
    with pytest.raises(PayloadError, match=f"not sync_mode {mode}"):
        check_request(replace, SyncRequest("acme/items", mode, None, None), "no-bucket-is-read")
    assert check_request(replace, SyncRequest("acme/items", "historical_full", None, None), "b") is None


def page(records: list, item=None) -> Page:
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    response = ApiResponse("https://api.example.com/x", 200, b"", None, records)
    return Page(1, Slice(item, window), response, datetime(2026, 3, 2, 5, tzinfo=UTC), "r1", "gs://b/raw/p1")


def test_a_flagged_record_is_a_version_marked_deleted_at_its_cursor():
    soft = entity({"deletes": {"when": FLAG, "mode": "soft_delete"}})
    records = [{"id": 1, "status": "open", "updated_at": "2026-03-01T10:00:00Z"},
               {"id": 2, "status": "deleted", "updated_at": "2026-03-01T11:00:00Z"}]
    rows, rejects, _ = page_rows(page(records), soft, RowBuilder.for_entity(soft), first_seq=0)
    assert rejects == []
    assert [(r.get("_delete"), r["_deleted"], r.get("_deleted_at")) for r in rows] == [
        (None, False, None), (True, True, "2026-03-01T11:00:00Z")]
    assert rows[1]["status"] == "deleted"  # the record's values are kept


def test_a_tombstone_is_its_key_and_when_it_was_deleted_and_nothing_else():
    fan = entity({"merge_keys": ["shop", "id"], "fan_out": {"column": "shop", "items": ["s1"]},
                  "deletes": {"endpoint": {**TOMBSTONES, "path": "/shops/{item}/deleted"}}})
    records = [{"object": {"id": "17"}, "deleted_at": "2026-03-01 12:00:00+01:00"}, {"object": {"id": 18}},
               {"deleted_at": "2026-03-01T12:00:00Z"}, "not an object"]
    rows, rejects = TombstoneRows.for_entity(fan).rows(page(records, item="s1"), first_seq=10)
    first = {"id": 17, "shop": "s1", "_delete": True, "_tombstone": True, "_seq": 11,
             "_deleted_at": "2026-03-01T11:00:00Z", "_run_id": "r1",
             "_extracted_at": "2026-03-02T05:00:00Z", "_source_object": "gs://b/raw/p1"}
    assert rows == [first, {**first, "id": 18, "_seq": 12, "_deleted_at": "2026-03-02T05:00:00Z"}]
    assert [(r["index"], r["reason"]) for r in rejects] == [
        (2, "tombstone: missing id (deletes.endpoint.key_fields)"),
        (3, "tombstone: a tombstone must be a JSON object, got str")]


def test_every_mode_is_registered_and_append_only_ever_inserts():
    assert sorted(WRITE_MODES) == ["append", "history", "merge", "replace"]
    events = entity({"target": {"write": "append"}})
    assert write_mode(events).type == "append" and write_mode(entity()).type == "merge"
    sql = write_mode(events).sql(events, "p.d.t", Staging(("p.d.s",)))
    clauses = [line.split(" THEN ")[0] for line in sql.splitlines() if line.startswith("WHEN")]
    assert clauses == ["WHEN NOT MATCHED"]
    assert "ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `updated_at` DESC, _seq DESC) = 1" in sql


def test_a_tombstone_deletes_whatever_the_cursor_and_a_deleted_key_is_never_inserted():
    hard = entity({"deletes": {"when": FLAG, "endpoint": TOMBSTONES}})
    sql = write_mode(hard).sql(hard, "p.d.t", Staging(("p.d.s",)))
    assert "WHEN MATCHED AND S._delete IS TRUE AND (S.__tombstoned OR (T.`updated_at` IS NULL OR " \
           "S.`updated_at` >= T.`updated_at`)) THEN DELETE" in sql
    assert "WHEN NOT MATCHED AND NOT (S._delete IS TRUE) THEN INSERT" in sql
    soft = entity({"deletes": {"when": FLAG, "endpoint": TOMBSTONES, "mode": "soft_delete"}})
    sql = write_mode(soft).sql(soft, "p.d.t", Staging(("p.d.s",)))
    assert "DELETE" not in sql and "WHEN NOT MATCHED AND NOT (S._tombstone IS TRUE) THEN INSERT" in sql
