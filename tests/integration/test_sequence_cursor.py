"""Incremental runs over an API without dates, read by an integer sequence (`incremental.cursor_type`
integer, the watermark sent as `after_seq`), against the change-log simulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingestion.contract.errors import PayloadError
from tests.support.apis.changelog import TOKEN, ChangeLogApi
from tests.support.catalog import runs, sync
from tests.support.delivery import store_secret
from tests.support.tables import table
from utils import gcs_helper

ENTITY = "changelog/changes"
SCHEMA = [{"name": "seq", "type": "INT64", "mode": "REQUIRED"}, {"name": "object_id", "type": "STRING"},
          {"name": "action", "type": "STRING"}, {"name": "at", "type": "TIMESTAMP"}]


def setup(env, serve, api: ChangeLogApi) -> str:
    serve(api, "CHANGELOG_API_URL")
    store_secret(env.settings.project, "changelog-api", {"token": TOKEN})
    dataset = f"changelog_{env.suffix}"
    env.write(ENTITY, {
        "base_url": "${CHANGELOG_API_URL}", "start_date": "2026-01-01",
        "auth": {"type": "bearer", "secret": "changelog-api", "token_key": "token"},
        "http": {"max_retries": 1, "backoff_factor": 0},
        "request": {"path": "/v1/changes", "params": {"limit": 10}},
        "records": {"path": "changes"},
        "pagination": {"type": "next_url", "next_url_path": "next"},
        "cursor_field": "seq", "merge_keys": ["seq"],
        "incremental": {"cursor_type": "integer", "param": "after_seq"},
        "target": {"dataset": dataset, "table": "changes"},
    }, SCHEMA)
    return dataset


def stored_watermark(env):
    return json.loads(gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")[0])["watermark"]


def test_each_incremental_run_asks_only_for_what_follows_the_watermark(env, serve):
    api = ChangeLogApi(count=23)
    dataset = setup(env, serve, api)

    first = sync(env, ENTITY)
    assert first.status == "succeeded" and first.watermark_value == "23"
    assert api.asked_after() == [None, "10", "20"]  # the first run has no watermark to send
    assert stored_watermark(env) == 23

    api.append(4)
    api.requests.clear()
    second = sync(env, ENTITY)

    loaded = table(env, dataset, "changes", "seq")
    assert sorted(loaded) == sorted(api.truth()) and loaded[27]["object_id"] == "obj-6"
    assert api.asked_after() == ["23"]  # one page: only the 4 new entries
    assert (second.records, second.rows_merged, second.watermark_value) == (4, 4, "27")
    assert stored_watermark(env) == 27
    assert [r["watermark_value"] for r in runs(env)] == ["23", "27"]


def test_nothing_new_leaves_the_watermark_where_it_is(env, serve):
    api = ChangeLogApi(count=5)
    setup(env, serve, api)
    sync(env, ENTITY)

    again = sync(env, ENTITY)

    assert again.status == "succeeded" and again.records == 0 and stored_watermark(env) == 5
    assert api.asked_after()[-1] == "5"


def test_a_full_snapshot_reads_everything_and_never_moves_the_watermark_back(env, serve):
    api = ChangeLogApi(count=12)
    dataset = setup(env, serve, api)
    sync(env, ENTITY)
    api.requests.clear()

    full = sync(env, ENTITY, mode="historical_full")

    assert full.status == "succeeded" and api.asked_after() == [None, "10"]
    assert sorted(table(env, dataset, "changes", "seq")) == list(range(1, 13))
    assert stored_watermark(env) == 12


def test_a_date_backfill_is_refused_before_anything_is_written(env, serve):
    api = ChangeLogApi(count=3)
    setup(env, serve, api)

    with pytest.raises(PayloadError, match="integer cursor and no dates"):
        sync(env, ENTITY, mode="incremental_window", start=datetime(2026, 2, 1, tzinfo=UTC))

    assert api.requests == [] and gcs_helper.list_paths(env.settings.bucket, "") == []


def test_an_ignored_nothing_new_answer_is_an_empty_page_in_the_run_and_in_a_replay(env, serve):
    api = ChangeLogApi(count=4, nothing_new=404)
    dataset = setup(env, serve, api)
    env.edit_config(ENTITY, lambda config: config.update(response_actions=[
        {"status": 404, "path": "error.code", "equals": "no_changes", "action": "ignore"}]))
    sync(env, ENTITY)

    quiet = sync(env, ENTITY)
    replayed = sync(env, ENTITY, mode="replay")  # reads the stored 404 page as the run did

    assert (quiet.status, quiet.pages, quiet.records) == ("succeeded", 1, 0)
    assert (replayed.status, replayed.pages, replayed.records) == ("succeeded", 2, 4)
    assert sorted(table(env, dataset, "changes", "seq")) == [1, 2, 3, 4] and stored_watermark(env) == 4
