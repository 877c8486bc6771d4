"""Sync modes against the catalog API's ground truth: historical_full deletes (or flags) what the
snapshot lacks, only when complete; long runs continue in new messages; backfills fan out into
parallel parts; fan-out items run alone; `gaps` finds and backfills exactly the missing windows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from ingestion.contract.config import load_entity
from ingestion.ops import cli
from ingestion.planning.gaps import find_gaps
from ingestion.planning.jobs import load_job
from tests.support.apis import NOW
from tests.support.apis.catalog import START
from tests.support.catalog import (
    ENTITY,
    assert_table_matches_truth,
    deliver,
    newest_cursor,
    rows,
    runs,
    setup,
    stored_state,
)
from tests.support.delivery import published
from utils import gcs_helper

FULL = {"entity": ENTITY, "sync_mode": "historical_full"}


def drain(stack, env, first: dict, message_id: str = "m1", now=NOW) -> list[str]:
    """Deliver `first`, then every message the function publishes, until none is left, the way
    the push subscription would; returns the statuses of the runs in order."""
    statuses, queue, seen = [], [(message_id, first)], set()
    while queue:
        mid, payload = queue.pop(0)
        seen.add(mid)
        statuses.append(deliver(env, payload, mid, now=now).status)
        queue += [m for m in published(stack, env) if m[0] not in seen and m not in queue]
    return statuses


@pytest.mark.parametrize("absent_rows", ["hard_delete", "soft_delete"])
def test_a_complete_full_snapshot_removes_the_rows_the_api_no_longer_has(env, catalog, absent_rows):
    dataset = setup(env, full_refresh={"absent_rows": absent_rows})
    assert deliver(env, message_id="first").status == "succeeded"
    catalog.remove(4)
    catalog.remove(7)
    catalog.put(2, name="still here")

    run = deliver(env, FULL, "full")

    assert run.status == "succeeded" and run.rows_deleted == 2
    loaded = rows(env, dataset)
    if absent_rows == "hard_delete":
        assert_table_matches_truth(env, dataset, catalog)
    else:  # kept, flagged, with the time of the snapshot; every other row is live
        assert {n for n, r in loaded.items() if r["_deleted"]} == {4, 7}
        assert all(loaded[n]["_deleted_at"] for n in (4, 7))
        assert all(r["_deleted"] is False for n, r in loaded.items() if n not in (4, 7))
        assert loaded[2]["name"] == "still here"
    assert [r["rows_deleted"] for r in runs(env)] == [0, 2]


def test_a_soft_deleted_row_the_api_serves_again_is_live_again(env, catalog):
    dataset = setup(env, full_refresh={"absent_rows": "soft_delete"})
    removed = catalog.items[4]
    catalog.remove(4)
    assert deliver(env, message_id="first").status == "succeeded"
    catalog.items[4] = removed
    deliver(env, FULL, "full-1")
    assert rows(env, dataset)[4]["_deleted"] is False
    catalog.remove(4)
    deliver(env, FULL, "full-2")
    assert rows(env, dataset)[4]["_deleted"] is True
    catalog.put(4)  # restored, with a newer update
    deliver(env, FULL, "full-3")
    assert rows(env, dataset)[4]["_deleted"] is False


def test_a_failed_full_run_deletes_nothing_and_the_next_one_does(env, catalog):
    dataset = setup(env)
    deliver(env, message_id="first")
    catalog.remove(5)
    catalog.refuse_from = START + timedelta(days=6)  # the API refuses the third window

    failed = deliver(env, FULL, "full-1")

    assert failed is None  # permanent: acknowledged
    assert runs(env)[-1]["status"] == "failed" and "HTTP 400" in runs(env)[-1]["error_message"]
    assert 5 in rows(env, dataset)  # the snapshot was partial: nothing deleted
    assert load_job(env.settings.bucket, ENTITY, "full-1").status == "failed"
    catalog.refuse_from = None
    assert deliver(env, FULL, "full-2").status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)


def test_a_snapshot_with_rejected_records_deletes_nothing(env, catalog):
    dataset = setup(env, records={"path": "data", "max_rejects": 1})
    deliver(env, message_id="first")
    catalog.remove(6)
    catalog.broken[9] = {"quantity": "lots"}  # item 9's new version cannot be loaded

    assert deliver(env, FULL, "full").status == "succeeded"

    assert {6, 9} <= set(rows(env, dataset))  # item 9 must not look deleted; so nothing is


def test_an_empty_snapshot_deletes_nothing(env, catalog):
    """An API answering with no data at all is far likelier an outage than a wiped source."""
    dataset = setup(env)
    deliver(env, message_id="first")
    for n in list(catalog.items):
        catalog.remove(n)
    assert deliver(env, FULL, "full").status == "succeeded"
    assert len(rows(env, dataset)) == 20


def test_a_long_full_run_continues_in_new_messages_and_deletes_only_at_the_end(env, catalog, stack):
    dataset = setup(env)
    deliver(env, message_id="first")
    catalog.remove(3)
    env.settings = replace(env.settings, time_budget_seconds=0)  # one window per invocation

    first = deliver(env, FULL, "full")
    assert first.status == "continued"
    assert 3 in rows(env, dataset)  # partial so far: nothing deleted yet
    [(continuation_id, continuation)] = published(stack, env)
    assert continuation == {"entity": ENTITY, "sync_mode": "historical_full", "job": "full"}

    statuses = drain(stack, env, continuation, continuation_id)

    assert statuses == ["continued", "continued", "succeeded"]  # 4 windows, one per invocation
    assert_table_matches_truth(env, dataset, catalog)
    job_runs = [r for r in runs(env) if r["job_id"] == "full"]
    assert len(job_runs) == 4 and sum(r["rows_deleted"] for r in job_runs) == 1


def test_rows_written_after_the_snapshot_was_planned_are_not_deleted(env, catalog, stack):
    """An incremental run merging a brand-new row while a long full run is under way: the full
    run never saw it, yet it must stay."""
    dataset = setup(env)
    deliver(env, message_id="first")
    env.settings = replace(env.settings, time_budget_seconds=0)
    assert deliver(env, FULL, "full").status == "continued"
    env.settings = replace(env.settings, time_budget_seconds=420)
    catalog.put(21, updated_at=NOW + timedelta(minutes=20))
    later = NOW + timedelta(hours=1)
    assert deliver(env, {"entity": ENTITY}, "tick", now=later).status == "succeeded"

    drain(stack, env, published(stack, env)[0][1], published(stack, env)[0][0])

    assert 21 in rows(env, dataset)
    assert_table_matches_truth(env, dataset, catalog)


def test_a_parallel_backfill_fans_out_and_its_parts_run_at_once(env, catalog, stack):
    dataset = setup(env)
    deliver(env, message_id="first")
    catalog.remove(12)

    splitter = deliver(env, {**FULL, "parallel": 3}, "full")

    assert splitter.status == "continued"
    parts = published(stack, env)
    assert [p["chunk"] for _, p in parts] == [0, 1, 2]
    with ThreadPoolExecutor(3) as pool:  # three function instances
        results = list(pool.map(lambda part: deliver(env, part[1], part[0]), parts))
    assert [r.status for r in results] == ["succeeded"] * 3
    assert_table_matches_truth(env, dataset, catalog)  # deleted once the last part finished
    assert load_job(env.settings.bucket, ENTITY, "full").status == "succeeded"
    assert deliver(env, parts[0][1], parts[0][0], attempt=2).status == "skipped"  # a duplicate part


def test_a_continued_incremental_run_moves_the_watermark_step_by_step(env, catalog, stack):
    setup(env)
    env.settings = replace(env.settings, time_budget_seconds=0)
    statuses = drain(stack, env, {"entity": ENTITY}, "tick")
    assert statuses == ["continued"] * 3 + ["succeeded"]
    assert stored_state(env)["watermark"] == newest_cursor(catalog)


def test_gaps_lists_the_missing_windows_and_publishes_backfills_for_exactly_those(
        env, catalog, stack, monkeypatch, capsys):
    dataset = setup(env)
    window = {"entity": ENTITY, "sync_mode": "incremental_window"}
    deliver(env, {**window, "start_date": "2026-03-01", "end_date": "2026-03-02T00:00:00Z"}, "a")
    deliver(env, {**window, "start_date": "2026-03-04T06:00:00Z", "end_date": "2026-03-10"}, "b")
    entity = load_entity(ENTITY, env.settings.config_dir, env.settings.schema_dir)

    [gap] = find_gaps(entity, env.settings)

    # 2026-03-02 → 2026-03-04T06:00 was never loaded: exactly that (no date_filter.align)
    assert (gap.window.start.isoformat(), gap.window.end.isoformat()) == (
        "2026-03-02T00:00:00+00:00", "2026-03-04T06:00:00+00:00")
    monkeypatch.setattr("ingestion.ops.cli.Settings.from_env", lambda: env.settings)
    assert cli.main(["gaps", ENTITY, "--publish"]) == 0
    assert "1 gap(s)" in capsys.readouterr().out
    [(message_id, backfill)] = published(stack, env)
    assert backfill == {**window, "start_date": "2026-03-02T00:00:00Z", "end_date": "2026-03-04T06:00:00Z"}
    assert deliver(env, backfill, message_id).status == "succeeded"
    assert find_gaps(entity, env.settings) == []
    assert_table_matches_truth(env, dataset, catalog)


def test_a_fan_out_item_can_be_backfilled_alone(env, serve):
    from tests.support.fanout import EXPECTED, SCHEMA_ITEMS, child_config, loaded

    dataset = f"fan_{env.suffix}"
    child = child_config({"column": "account", "items": ["acc-1", "acc/2", "acc-3"]}, dataset)
    env.write("acme/items", child, SCHEMA_ITEMS)
    api = serve_accounts(serve)

    run = deliver(env, {"entity": "acme/items", "sync_mode": "incremental_window",
                        "start_date": "2026-03-01", "item": "acc/2"}, "one")

    assert run.status == "succeeded" and run.item == "acc/2"
    assert loaded(env, dataset) == {key for key in EXPECTED if key[0] == "acc/2"}
    assert [r.environ["RAW_URI"] for r in api.requests] == ["/accounts/acc%2F2/items"]
    assert set(gcs_helper.list_paths(env.settings.bucket, "state/acme/items/")) == {
        "state/acme/items/acc%2F2.json"}  # only that item's state


def serve_accounts(serve):
    from tests.support.fanout import AccountsApi

    api = AccountsApi()
    serve(api, "ACCOUNTS_API_URL")
    return api


def test_a_message_naming_an_item_of_an_entity_without_fan_out_is_refused(env, catalog):
    setup(env)
    assert deliver(env, {"entity": ENTITY, "item": "x"}) is None
    [run] = runs(env)
    assert run["status"] == "failed" and "has no fan_out" in run["error_message"]


