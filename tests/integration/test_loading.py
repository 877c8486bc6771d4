"""BigQuery loading against bqemulator with the real client: tables created and evolved from the
schema JSON, type-messy records coerced, rejects, the MERGE's dedup rules, partition pruning and
replay from the raw pages in GCS."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ingestion.contract.errors import PermanentError, RecordError
from ingestion.warehouse.ledger import RUN_FIELDS, runs_table_id
from ingestion.warehouse.tables import SchemaMismatch
from tests.support.apis import NOW
from tests.support.apis.catalog import CONFIG, SCHEMA
from tests.support.catalog import ENTITY, read_lines, rows, runs, setup, sync
from tests.support.rawpages import page_bytes
from utils import bq_helper, gcs_helper


def test_messy_records_land_as_typed_values(env, catalog):
    dataset = setup(env)

    run = sync(env, ENTITY)

    loaded, truth = rows(env, dataset), catalog.truth()
    assert set(loaded) == set(truth) and run.rejected == 0
    assert run.unknown_fields == "unused"  # sent by the API, read by no column
    for n, item in truth.items():
        row = loaded[n]
        assert row["name"] == item["name"] and row["price"] == item["price"]
        assert row["quantity"] == item["quantity"] and row["active"] is item["active"]
        assert row["updated_at"] == item["updated_at"], f"item {n}: {catalog.wire(item)['updated_at']}"
        assert row["created_on"] == item["created_on"] and row["tags"] == item["tags"]
        assert row["dimensions"] == item["dimensions"]
    raw = b"".join(gcs_helper.read(env.settings.bucket, path)[0]
                   for path in gcs_helper.list_paths(env.settings.bucket, "raw/"))
    assert b"+0300" in raw and b"GMT" in raw  # raw pages keep what the API sent


def test_table_is_created_with_partitioning_clustering_descriptions_and_lineage(env, catalog):
    dataset = setup(env)

    run = sync(env, ENTITY)

    table = bq_helper.get_table(f"{env.settings.project}.{dataset}.items")
    assert table.time_partitioning.field == "created_on" and table.clustering_fields == ["name"]
    assert table.description == CONFIG["description"]
    described = {f.name: f.description for f in table.schema}
    assert described["updated_at"] == "Last change, UTC." and described["_source_object"]
    for row in rows(env, dataset).values():
        assert row["_run_id"] == run.run_id and row["_extracted_at"] is not None
        page = json.loads(page_bytes(row["_source_object"]))  # the byte range its URI names
        assert row["id"] in [int(r["id"]) for r in page["data"]]  # the row's own raw page


def test_one_run_keeps_the_latest_version_of_a_duplicated_key(env, catalog):
    dataset = setup(env)
    newest = catalog.items[5]["updated_at"].replace(hour=23)
    # Items 21-23 are served as copies of items 5 and 7: an older and a newer version of 5, and an
    # equal-cursor version of 7 that comes later in the run (a later page).
    catalog.put(21), catalog.put(22), catalog.put(23)
    same_as_7 = catalog.wire(catalog.items[7])["updated_at"]
    catalog.broken = {21: {"id": 5, "name": "stale", "updated_at": "2026-03-01T00:00:00Z"},
                      22: {"id": 5, "name": "newest", "updated_at": newest.isoformat()},
                      23: {"id": 7, "name": "later", "updated_at": same_as_7}}

    sync(env, ENTITY)

    loaded = rows(env, dataset)
    assert loaded[5]["name"] == "newest" and loaded[5]["updated_at"] == newest
    assert loaded[7]["name"] == "later"
    assert set(loaded) == set(range(1, 21))


def test_rows_are_staged_in_size_bounded_parts_and_all_of_them_load(env, catalog, monkeypatch):
    monkeypatch.setattr("ingestion.rows.stage.PART_BYTES", 1)  # a part closes after every page
    dataset = setup(env)

    run = sync(env, ENTITY)

    prefix = f"staged/{ENTITY}/{run.run_id}/"
    parts = gcs_helper.list_paths(env.settings.bucket, prefix)
    pages_per_part = [{json.loads(line)["_source_object"] for line in
                       gcs_helper.read(env.settings.bucket, part)[0].splitlines()} for part in parts]
    assert len(parts) > 1 and all(len(pages) == 1 for pages in pages_per_part)
    staged = read_lines(env, prefix)
    assert sorted(r["_seq"] for r in staged) == list(range(1, 21))  # each row once, in run order
    assert set(rows(env, dataset)) == set(catalog.truth()) and run.records == 20


def test_rejects_within_the_limit_are_kept_aside_and_counted(env, catalog):
    dataset = setup(env, records={"path": "data", "max_rejects": 2})
    catalog.broken = {4: {"quantity": "lots"}, 9: {"updated_at": "03/04/2026"}}

    run = sync(env, ENTITY)

    assert run.status == "succeeded" and run.rejected == 2
    assert set(rows(env, dataset)) == set(range(1, 21)) - {4, 9}
    rejects = {r["record"]["id"]: r for r in read_lines(env, f"rejects/{ENTITY}/{run.run_id}/")}
    assert rejects[4]["reason"] == 'quantity: cannot read "lots" as INT64'
    assert rejects["9"]["reason"] == 'updated_at: cannot read "03/04/2026" as TIMESTAMP'
    assert rejects["9"]["record"] == catalog.wire(catalog.items[9])
    assert [r["rejected"] for r in runs(env)] == [2]


def test_too_many_rejects_fail_the_run_with_nothing_loaded(env, catalog):
    dataset = setup(env, records={"path": "data", "max_rejects": 1})
    catalog.broken = {4: {"quantity": "lots"}, 9: {"active": "maybe"}, 10: {"id": None}}

    with pytest.raises(RecordError) as failure:
        sync(env, ENTITY)

    message = str(failure.value)
    assert "more than records.max_rejects=1" in message and "cannot read \"lots\" as INT64" in message
    assert f"gs://{env.settings.bucket}/rejects/{ENTITY}/" in message
    assert rows(env, dataset) == {}
    assert gcs_helper.list_paths(env.settings.bucket, "state/") == []  # no watermark moved
    [run] = runs(env)
    # It stopped at the page that went over the limit: items 9 and 10 share the third page.
    assert run["status"] == "failed" and run["rejected"] == 3 and run["error_class"] == "RecordError"


def test_a_new_nullable_column_is_added_on_the_next_run(env, catalog):
    dataset = setup(env)
    sync(env, ENTITY)
    catalog.extra_fields = {"color": lambda item: f"c{item['id']}"}
    catalog.put(3, name="renamed")
    evolved = copy.deepcopy(SCHEMA)
    evolved[0]["mode"] = "NULLABLE"  # relaxing REQUIRED is allowed in place
    evolved[1]["description"] = "Display name."
    evolved.append({"name": "color", "type": "STRING", "description": "Colour, since v2."})
    setup(env, schema=evolved)

    sync(env, ENTITY)

    fields = {f.name: f for f in bq_helper.get_table(f"{env.settings.project}.{dataset}.items").schema}
    assert fields["color"].description == "Colour, since v2." and fields["color"].mode == "NULLABLE"
    assert fields["name"].description == "Display name." and fields["id"].mode == "NULLABLE"
    loaded = rows(env, dataset)
    assert len(loaded) == 20 and loaded[3]["color"] == "c3" and loaded[3]["name"] == "renamed"
    assert loaded[4]["color"] is None and loaded[4]["name"] == "item 4"  # old rows kept, untouched


def test_a_field_the_api_adds_is_reported_then_backfilled_by_replay(env, catalog):
    dataset = setup(env)
    watermark = sync(env, ENTITY).watermark
    catalog.extra_fields = {"color": lambda item: f"c{item['id']}"}
    catalog.put(3, name="renamed")

    drifted = sync(env, ENTITY)

    assert drifted.unknown_fields == "color, unused" and "color" not in rows(env, dataset)[3]
    setup(env, schema=[*SCHEMA, {"name": "color", "type": "STRING"}])
    sync(env, ENTITY, "replay")
    colors = {n: r["color"] for n, r in rows(env, dataset).items()}
    resent = {n for n, i in catalog.items.items() if i["updated_at"] >= watermark}  # 3, and 20 again
    assert colors == {n: f"c{n}" if n in resent else None for n in range(1, 21)} and 3 in resent


def test_an_incompatible_schema_change_fails_before_anything_is_fetched(env, catalog):
    dataset = setup(env)
    sync(env, ENTITY)
    before, calls, state = rows(env, dataset), len(catalog.requests), \
        gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")
    catalog.put(3, name="renamed")
    changed = copy.deepcopy(SCHEMA)
    changed[3]["type"] = "STRING"  # quantity
    changed.append({"name": "sku", "type": "STRING", "mode": "REQUIRED"})
    setup(env, schema=changed)

    with pytest.raises(SchemaMismatch) as failure:
        sync(env, ENTITY)

    message = str(failure.value)
    assert "quantity: type INT64 in the table, STRING in the schema JSON" in message
    assert "sku: a new column cannot be REQUIRED" in message and f"schema/{ENTITY}.json" in message
    assert len(catalog.requests) == calls  # the API was not called
    assert rows(env, dataset) == before
    assert gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json") == state
    assert [r["status"] for r in runs(env)] == ["succeeded", "failed"]


@pytest.mark.parametrize("batch_pages", [500, 3])  # raw pages: a batch per run, or several
def test_replay_rebuilds_a_dropped_table_without_calling_the_api(env, catalog, monkeypatch, batch_pages):
    monkeypatch.setattr("ingestion.rows.rawpages.BATCH_PAGES", batch_pages)
    dataset = setup(env)
    sync(env, ENTITY)
    catalog.put(3, name="renamed")
    catalog.put(21)
    sync(env, ENTITY)
    original, calls = rows(env, dataset), len(catalog.requests)
    for run in runs(env):  # an object per `batch_pages` pages, never one per page
        objects = gcs_helper.list_paths(env.settings.bucket, f"raw/{ENTITY}/{run['run_id']}/")
        assert len(objects) == -(-run["pages"] // batch_pages) < run["pages"]
    state = gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")
    bq_helper.delete_table(f"{env.settings.project}.{dataset}.items")

    replay = sync(env, ENTITY, "replay")

    assert rows(env, dataset) == original  # every column, lineage included
    assert original[3]["name"] == "renamed" and "#page=" in original[3]["_source_object"]
    assert len(catalog.requests) == calls
    assert gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json") == state
    assert replay.sync_mode == "replay" and replay.watermark is None
    assert replay.records == sum(r["records"] for r in runs(env)[:2])


def test_replay_of_a_window_repairs_a_bad_transform(env, catalog):
    dataset = setup(env, records={"path": "data", "fields": {"name": "title"}})  # wrong source field
    sync(env, ENTITY)
    assert {r["name"] for r in rows(env, dataset).values()} == {None}
    setup(env)  # the fix
    start, end = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)

    sync(env, ENTITY, "replay", start, end)

    repaired = {n for n, r in rows(env, dataset).items() if r["name"] == f"item {n}"}
    in_window = {n for n, i in catalog.truth().items() if start <= i["updated_at"] < end}
    assert repaired == in_window and 0 < len(repaired) < 20


def test_immutable_partition_merges_only_inside_the_partitions_it_touches(env, catalog):
    dataset = setup(env, target={"partition": {"field": "created_on", "immutable": True}})
    sync(env, ENTITY)
    table = f"`{env.settings.project}.{dataset}.items`"
    # A stray row with id 5 in a far partition: a pruned MERGE cannot see it.
    bq_helper.query(f"INSERT INTO {table} (id, name, created_on, updated_at) "
                    "VALUES (5, 'far away', DATE '2020-01-01', TIMESTAMP '2020-01-01 00:00:00+00')")
    catalog.put(5, name="changed")

    sync(env, ENTITY)

    result = bq_helper.query(f"SELECT name, created_on FROM {table} WHERE id = 5 ORDER BY created_on")
    assert [(r.name, r.created_on) for r in result.result()] == [
        ("far away", date(2020, 1, 1)), ("changed", catalog.items[5]["created_on"])]
    assert len(list(bq_helper.query(f"SELECT id FROM {table}").result())) == 21


def test_raw_json_keeps_the_record_as_sent(env, catalog):
    dataset = setup(env, target={"raw_json": True})

    sync(env, ENTITY)

    for n, row in rows(env, dataset).items():
        assert row["_raw"] == json.loads(json.dumps(catalog.wire(catalog.items[n])))
        assert row["price"] == Decimal(catalog.items[n]["price"])


def test_an_older_run_ledger_gains_the_new_columns(env, catalog):
    setup(env)
    bq_helper.ensure_dataset(env.settings.project, env.settings.meta_dataset, env.settings.location)
    old_fields = [f for f in RUN_FIELDS if f["name"] not in ("rejects", "unknown_fields")]
    bq_helper.create_table(runs_table_id(env.settings), bq_helper.schema_from_json(old_fields),
                           partition_field="started_at", cluster_by=["entity", "status"])

    sync(env, ENTITY, now=NOW)

    [run] = runs(env)
    assert run["status"] == "succeeded" and run["rejected"] == 0 and run["records"] == 20


def test_replay_with_nothing_stored_fails_clearly_and_calls_no_api(env, catalog):
    setup(env)

    with pytest.raises(PermanentError) as failure:
        sync(env, ENTITY, "replay", datetime(2026, 3, 4, tzinfo=UTC), None)

    assert str(failure.value) == (f"replay: gs://{env.settings.bucket}/raw/{ENTITY}/ holds no raw pages "
                                  "for the window 2026-03-04 00:00:00+00:00 → …; nothing to rebuild from")
    assert catalog.requests == [] and [r["status"] for r in runs(env)] == ["failed"]
