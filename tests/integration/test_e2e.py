"""End to end: a Pub/Sub CloudEvent delivered to the function (functions/main.py under
functions-framework) against the demo shop API, checked through the real clients in BigQuery
and GCS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from ingestion.contract.dates import parse_instant
from tests.support.delivery import API_KEY, deliver
from tests.support.rawpages import page_bytes, pages
from utils import bq_helper, gcs_helper


def rows(sql: str) -> list[dict]:
    return [dict(r.items()) for r in bq_helper.query(sql).result()]


def table_rows(env, dataset: str, table: str) -> list[dict]:
    return rows(f"SELECT * FROM `{env.settings.project}.{dataset}.{table}`")


def run_rows(env) -> list[dict]:
    return rows(f"SELECT * FROM `{env.settings.project}.{env.settings.meta_dataset}.runs` "
                f"ORDER BY started_at")


def state(env, entity: str) -> dict | None:
    data, _ = gcs_helper.read(env.settings.bucket, f"state/{entity}.json")
    return json.loads(data) if data else None


def objects(env, prefix: str = "") -> list[str]:
    return gcs_helper.list_paths(env.settings.bucket, prefix)


def test_incremental_sync_loads_rows_pages_watermark_and_run_row(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    truth = demo_api.data["orders"]

    response = deliver(function_client, {"entity": "demo_shop/orders"}, message_id="555")

    assert response.status_code == 200
    loaded = table_rows(env, dataset, "orders")
    assert len(loaded) == len(truth)
    by_id = {r["id"]: r for r in loaded}
    assert set(by_id) == {o["id"] for o in truth}
    sample = truth[17]
    row = by_id[sample["id"]]
    assert row["status"] == sample["status"]
    assert row["shipping"] == sample["shipping"]
    assert [line["sku"] for line in row["lines"]] == [line["sku"] for line in sample["lines"]]
    assert row["updated_at"] == parse_instant(sample["updated_at"])
    runs = run_rows(env)
    assert len(runs) == 1
    run = runs[0]
    assert row["_run_id"] == run["run_id"] and run["run_id"].endswith("_555")

    raw_objects = objects(env, f"raw/demo_shop/orders/{run['run_id']}/")
    raw_pages = pages(env.settings.bucket, f"raw/demo_shop/orders/{run['run_id']}/")
    assert run["status"] == "succeeded"
    assert run["entity"] == "demo_shop/orders" and run["message_id"] == "555"
    assert run["records"] == len(truth) and run["rows_merged"] == len(truth)
    assert run["pages"] == len(raw_pages) > 1 and [p["number"] for p in raw_pages][:2] == [1, 2]
    assert raw_objects == [f"raw/demo_shop/orders/{run['run_id']}/pages-000001.json"]  # one write
    first = raw_pages[0]
    first_page = json.loads(gcs_helper.read_range(env.settings.bucket, raw_objects[0], first["offset"],
                                                  first["offset"] + first["length"] - 1))
    assert "items" in first_page["data"]
    its_page = json.loads(page_bytes(row["_source_object"]))  # the row's lineage: its page's bytes
    assert sample["id"] in [order["id"] for order in its_page["data"]["items"]]
    assert secret_absent(env, raw_objects[0])

    newest = max(parse_instant(o["updated_at"]) for o in truth)
    assert parse_instant(state(env, "demo_shop/orders")["watermark"]) == newest
    assert run["watermark"] == newest

    table = bq_helper.get_table(f"{env.settings.project}.{dataset}.orders")
    assert table.time_partitioning.field == "created_at"
    assert table.clustering_fields == ["customer_id", "status"]
    # staging tables are dropped once merged
    assert not [t.table_id for t in bq_helper.client().list_tables(dataset)
                if t.table_id.startswith("_stg_")]


def secret_absent(env, path: str) -> bool:
    """Raw pages hold the body only: no request headers, no API key."""
    blob = gcs_helper.client().bucket(env.settings.bucket).get_blob(path)
    return API_KEY not in blob.download_as_text() and API_KEY not in json.dumps(blob.metadata)


def test_rerun_and_redelivery_leave_no_duplicates(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    assert deliver(function_client, {"entity": "demo_shop/customers"}, "1").status_code == 200
    by_id = lambda: sorted(table_rows(env, dataset, "customers"), key=lambda r: r["customer_id"])  # noqa: E731
    first = by_id()

    # the same message again (a Pub/Sub redelivery): its job is done, so the table is untouched,
    # lineage columns included
    assert deliver(function_client, {"entity": "demo_shop/customers"}, "1").status_code == 200
    assert by_id() == first
    # a new message re-reads the lookback and merges it without duplicating anything
    assert deliver(function_client, {"entity": "demo_shop/customers"}, "2").status_code == 200

    again = by_id()
    assert len(again) == len(demo_api.data["customers"])
    strip = lambda rs: [{k: v for k, v in r.items() if not k.startswith("_")} for r in rs]  # noqa: E731
    assert strip(again) == strip(first)
    runs = run_rows(env)
    assert [r["status"] for r in runs] == ["succeeded", "skipped", "succeeded"]
    assert runs[1]["error_message"] == "job 1 already succeeded" and runs[1]["pages"] == 0


def test_incremental_picks_up_changes_and_latest_version_wins(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    assert deliver(function_client, {"entity": "demo_shop/orders"}, "1").status_code == 200
    watermark = parse_instant(state(env, "demo_shop/orders")["watermark"])

    # The API now reports a status change of one order, twice (an older and a newer version
    # inside the same run), and a brand-new order.
    order = dict(demo_api.data["orders"][3])
    older = {**order, "status": "older-change", "updated_at": "2026-07-01T00:00:00Z"}
    newer = {**order, "status": "refunded", "updated_at": "2026-07-02T00:00:00Z"}
    created = {**order, "id": 999999, "updated_at": "2026-07-01T12:00:00Z"}
    demo_api.data["orders"] = [o for o in demo_api.data["orders"] if o["id"] != order["id"]]
    demo_api.data["orders"] += [newer, created, older]

    assert deliver(function_client, {"entity": "demo_shop/orders"}, "2").status_code == 200

    loaded = {r["id"]: r for r in table_rows(env, dataset, "orders")}
    assert len(loaded) == len({o["id"] for o in demo_api.data["orders"]})
    assert loaded[order["id"]]["status"] == "refunded"
    assert 999999 in loaded
    second = run_rows(env)[-1]
    assert second["window_start"] < watermark  # the lookback re-reads a little
    reread = [o for o in demo_api.data["orders"]
              if parse_instant(o["updated_at"]) >= watermark - timedelta(hours=2)]
    assert second["records"] == len(reread) >= 3
    assert parse_instant(state(env, "demo_shop/orders")["watermark"]) == datetime.fromisoformat(
        "2026-07-02T00:00:00+00:00")


@pytest.mark.parametrize("raw, entity, expected", [
    (b"not json", "(unreadable message)", "not base64-encoded JSON"),
    (json.dumps(["demo_shop/orders"]).encode(), "(unreadable message)", "must be a JSON object"),
    (json.dumps({"entity": "demo_shop/nope"}).encode(), "demo_shop/nope", "unknown entity 'demo_shop/nope'"),
    (json.dumps({"entity": "../../etc/passwd"}).encode(), "../../etc/passwd",
     "entity: '../../etc/passwd' does not match"),
    (json.dumps({"entity": "demo_shop/orders", "sync_mode": "sometimes"}).encode(), "demo_shop/orders",
     "sync_mode: 'sometimes' is not one of"),
    (json.dumps({"entity": "demo_shop/orders", "sync_mode": "incremental_window",
                 "start_date": "2026-02-30"}).encode(), "demo_shop/orders",
     "not an ISO date or datetime: '2026-02-30'"),
])
def test_bad_payload_is_acknowledged_logged_recorded_and_syncs_nothing(
        env, demo_api, function_client, caplog, raw, entity, expected):
    dataset = env.copy_demo_configs()
    caplog.set_level("ERROR", logger="ingestion")

    response = deliver(function_client, raw=raw, message_id="4242")

    assert response.status_code == 200  # acknowledged: no redelivery loop
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("ingestion")]
    assert any(expected in m for m in messages), messages
    [run] = run_rows(env)  # the ledger says what arrived and why it was refused
    assert (run["status"], run["error_class"], run["entity"]) == ("failed", "PayloadError", entity)
    assert expected in run["error_message"] and run["message_id"] == "4242"
    assert demo_api.requests == 0
    assert objects(env) == []  # no job, no state, no pages
    assert dataset not in {d.dataset_id for d in bq_helper.client().list_datasets()}


def test_api_rejecting_credentials_fails_permanently_without_writing_data(
        env, demo_api, function_client, caplog):
    dataset = env.copy_demo_configs()
    demo_api.api_key = "rotated-elsewhere"
    caplog.set_level("ERROR", logger="ingestion")

    response = deliver(function_client, {"entity": "demo_shop/orders"})

    assert response.status_code == 200  # a 401 will not fix itself: acknowledged, not retried
    assert any("demo_shop/orders" in r.getMessage() and "HTTP 401" in r.getMessage()
               for r in caplog.records)
    [run] = run_rows(env)
    assert run["status"] == "failed" and run["error_class"] == "AuthError"
    assert "401" in run["error_message"] and run["entity"] == "demo_shop/orders"
    assert "secret 'demo-shop-api' even after re-reading its latest version" in run["error_message"]
    assert state(env, "demo_shop/orders") is None
    assert table_rows(env, dataset, "orders") == []  # created from the schema JSON, nothing loaded


def test_an_outage_is_redelivered_and_the_redelivery_completes_the_sync(
        env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    demo_api.outage = 503

    failed = deliver(function_client, {"entity": "demo_shop/customers"}, "77", attempt=1)

    assert failed.status_code == 500  # not acknowledged: Pub/Sub redelivers
    assert state(env, "demo_shop/customers") is None
    assert table_rows(env, dataset, "customers") == []  # created from the schema JSON, nothing loaded

    demo_api.outage = None
    redelivered = deliver(function_client, {"entity": "demo_shop/customers"}, "77", attempt=2)

    assert redelivered.status_code == 200
    assert len(table_rows(env, dataset, "customers")) == len(demo_api.data["customers"])
    runs = run_rows(env)
    assert [(r["status"], r["attempt"]) for r in runs] == [("failed", 1), ("succeeded", 2)]
    assert runs[0]["error_class"] == "HttpStatusError" and "503" in runs[0]["error_message"]
    assert runs[0]["message_id"] == runs[1]["message_id"] == "77"


def test_a_record_without_its_merge_key_fails_the_run_before_anything_is_loaded(
        env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    broken = dict(demo_api.data["orders"][5])
    del broken["id"]
    demo_api.data["orders"][5] = broken

    response = deliver(function_client, {"entity": "demo_shop/orders"})

    assert response.status_code == 200  # permanent: acknowledged
    [run] = run_rows(env)
    assert run["status"] == "failed" and run["error_class"] == "RecordError"
    assert "missing id" in run["error_message"] and run["entity"] == "demo_shop/orders"
    assert table_rows(env, dataset, "orders") == []  # created from the schema JSON, nothing loaded
    assert state(env, "demo_shop/orders") is None
    [rejects] = objects(env, "rejects/demo_shop/orders/")
    [reject] = [json.loads(line) for line in gcs_helper.read(env.settings.bucket, rejects)[0].splitlines()]
    assert reject["record"] == broken and "missing id" in reject["reason"] and run["rejected"] == 1


def test_each_run_stages_into_its_own_prefix(env, demo_api, function_client):
    env.copy_demo_configs()
    window = {"entity": "demo_shop/customers", "sync_mode": "incremental_window",
              "start_date": "2026-01-01"}
    assert deliver(function_client, window, "9").status_code == 200
    demo_api.data["customers"] = demo_api.data["customers"][:120]  # the API now has fewer pages
    assert deliver(function_client, window, "10").status_code == 200  # the same backfill again

    first, second = run_rows(env)
    assert first["run_id"] != second["run_id"]
    for run in (first, second):
        assert len(pages(env.settings.bucket, f"raw/demo_shop/customers/{run['run_id']}/")) == run["pages"]
        parts = objects(env, f"staged/demo_shop/customers/{run['run_id']}/")
        staged = b"".join(gcs_helper.read(env.settings.bucket, part)[0] for part in parts)
        assert len(staged.splitlines()) == run["records"]
    assert (first["pages"], second["pages"]) == (4, 2)  # 300 = 3 full pages + an empty one
    assert second["records"] == 120


def test_an_older_version_never_overwrites_a_newer_row(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    assert deliver(function_client, {"entity": "demo_shop/orders"}, "1").status_code == 200
    order = demo_api.data["orders"][0]
    stale = {**order, "status": "stale", "updated_at": "2026-01-01T00:00:00Z"}
    demo_api.data["orders"] = [stale]  # e.g. a lagging replica answering a backfill

    backfill = {"entity": "demo_shop/orders", "sync_mode": "incremental_window",
                "start_date": "2026-01-01", "end_date": "2026-01-01"}
    assert deliver(function_client, backfill, "2").status_code == 200

    row = {r["id"]: r for r in table_rows(env, dataset, "orders")}[order["id"]]
    assert row["status"] == order["status"]
    assert row["updated_at"] == parse_instant(order["updated_at"])
    assert run_rows(env)[-1]["records"] == 1


def test_a_backfill_window_after_a_gap_does_not_move_the_watermark(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    later = {"entity": "demo_shop/orders", "sync_mode": "incremental_window",
             "start_date": "2026-05-01", "end_date": "2026-05-31"}
    assert deliver(function_client, later, "1").status_code == 200

    in_may = [o for o in demo_api.data["orders"] if o["updated_at"].startswith("2026-05")]
    assert len(table_rows(env, dataset, "orders")) == len(in_may) > 0
    after_gap = state(env, "demo_shop/orders")  # the window is recorded as loaded, but the
    assert after_gap["watermark"] is None      # next incremental still starts at start_date
    assert after_gap["covered"][0][:2] == ["2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"]

    assert deliver(function_client, {"entity": "demo_shop/orders"}, "2").status_code == 200
    assert len(table_rows(env, dataset, "orders")) == len(demo_api.data["orders"])
    earlier = {"entity": "demo_shop/orders", "sync_mode": "incremental_window",
               "start_date": "2026-02-01", "end_date": "2026-02-02"}
    watermark = state(env, "demo_shop/orders")["watermark"]
    assert deliver(function_client, earlier, "3").status_code == 200
    assert state(env, "demo_shop/orders")["watermark"] == watermark  # never backwards


def test_historical_full_reloads_everything_from_the_start_date(env, demo_api, function_client):
    dataset = env.copy_demo_configs()
    assert deliver(function_client, {"entity": "demo_shop/customers"}, "1").status_code == 200
    demo_api.data["customers"][0] = {**demo_api.data["customers"][0], "name": "Renamed",
                                     "updated_at": "2026-01-01T00:00:01Z"}  # older than watermark

    full = {"entity": "demo_shop/customers", "sync_mode": "historical_full"}
    assert deliver(function_client, full, "2").status_code == 200

    run = run_rows(env)[-1]
    assert run["records"] == len(demo_api.data["customers"])
    assert run["window_start"] == parse_instant("2026-01-01")
    names = {r["customer_id"]: r["name"] for r in table_rows(env, dataset, "customers")}
    # the renamed customer carries an older cursor than the loaded row, so the newer row stays
    assert names[demo_api.data["customers"][0]["customer_id"]] != "Renamed"
