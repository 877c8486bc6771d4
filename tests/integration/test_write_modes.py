"""`target.write` append and replace against bqemulator, through the function's handler, with
crashes and redeliveries: every table is compared with the catalog simulator's ground truth.

- append: insert-only; a crash between the load and the MERGE, or after the MERGE before the state
  commit, then the redelivery, never inserts an event twice; a later message re-reading the same
  events (lookback) inserts nothing, and never updates an event;
- replace: a complete historical_full snapshot swaps the table's content in one statement; while the
  job runs (or after it crashed, or failed) the table keeps its old content; an incremental message
  is refused before anything is created or fetched.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ingestion.contract.errors import LeaseHeld
from tests.support.apis import NOW
from tests.support.catalog import ENTITY, assert_table_matches_truth, deliver, rows, runs, setup
from tests.support.faults import SimulatedCrash, crash_on_call
from utils import bq_helper, gcs_helper

LATER = NOW + timedelta(minutes=15)  # past any lease a crashed run left
MUCH_LATER = NOW + timedelta(minutes=30)
ONE_SLICE_PER_STEP = {"step_records": 1}  # every 3-day window is a step of its own
FULL = {"entity": ENTITY, "sync_mode": "historical_full"}
CRASH_POINTS = {
    "after the staging load, before the MERGE": "ingestion.run.steps.merge_into_target",
    "after the MERGE, before the state": "ingestion.run.steps.commit_state",
}


def events_table(env) -> str:
    dataset = setup(env, target={"write": "append"}, lookback="P30D")
    env.settings = replace(env.settings, **ONE_SLICE_PER_STEP)
    return dataset


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_append_a_crash_in_a_step_then_the_redelivery_inserts_every_event_once(env, catalog, mocker, point):
    dataset = events_table(env)
    crash_on_call(mocker, CRASH_POINTS[point], call=2)

    with pytest.raises(SimulatedCrash):
        deliver(env)
    with pytest.raises(LeaseHeld):  # Pub/Sub redelivers at once: the dead run's lease holds
        deliver(env, attempt=2)
    mocker.stopall()
    redelivered = deliver(env, attempt=3, now=LATER)

    assert redelivered.status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)  # every event, none twice (rows() checks)
    # a duplicate of the message is skipped; a new one re-reading every event inserts none
    assert deliver(env, attempt=4, now=LATER).status == "skipped"
    again = deliver(env, message_id="m2", now=MUCH_LATER)
    assert again.status == "succeeded" and again.records == len(catalog.truth()) and again.rows_merged == 0
    assert_table_matches_truth(env, dataset, catalog)


def test_append_inserts_new_events_and_never_updates_one_it_has(env, catalog):
    dataset = events_table(env)
    assert deliver(env).status == "succeeded"
    first = rows(env, dataset)

    catalog.put(3, name="sent again, changed")  # an append entity's key names one event
    catalog.put(21)
    second = deliver(env, message_id="m2", now=LATER)

    assert second.status == "succeeded" and second.rows_merged == 1
    loaded = rows(env, dataset)
    assert sorted(loaded) == sorted(catalog.truth())
    assert loaded[3] == first[3]  # the first version stays, lineage included
    assert loaded[21]["name"] == "item 21"


def snapshot_table(env, catalog, absent_rows: str = "hard_delete") -> str:
    dataset = setup(env, target={"write": "replace"}, full_refresh={"absent_rows": absent_rows})
    assert deliver(env, FULL).status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)
    catalog.remove(4)
    catalog.remove(9)
    catalog.put(2, name="renamed")
    catalog.put(21)
    env.settings = replace(env.settings, **ONE_SLICE_PER_STEP)
    return dataset


def test_replace_swaps_in_the_complete_snapshot(env, catalog):
    dataset = snapshot_table(env, catalog)

    second = deliver(env, FULL, message_id="m2", now=LATER)

    assert second.status == "succeeded" and second.rows_deleted == 2
    assert_table_matches_truth(env, dataset, catalog)
    assert deliver(env, FULL, message_id="m3", now=MUCH_LATER).rows_deleted == 0
    assert_table_matches_truth(env, dataset, catalog)
    shadows = [t.table_id for t in bq_helper.client().list_tables(f"{env.settings.project}.{dataset}")
               if t.table_id.startswith("_replace_")]
    assert shadows == []  # dropped once swapped in


def test_replace_with_soft_delete_flags_the_rows_the_snapshot_no_longer_has(env, catalog):
    dataset = snapshot_table(env, catalog, "soft_delete")

    second = deliver(env, FULL, message_id="m2", now=LATER)

    assert second.status == "succeeded" and second.rows_deleted == 2
    loaded = rows(env, dataset)
    flagged = {n for n, row in loaded.items() if row["_deleted"]}
    assert flagged == {4, 9}
    assert all(LATER <= loaded[n]["_deleted_at"] < LATER + timedelta(minutes=1) for n in flagged)
    assert sorted(set(loaded) - flagged) == sorted(catalog.truth())
    assert loaded[2]["name"] == "renamed" and loaded[21]["_deleted"] is False


def test_replace_a_crash_mid_job_leaves_the_old_content_until_the_redelivery_finishes(env, catalog, mocker):
    dataset = snapshot_table(env, catalog)
    before = rows(env, dataset)
    crash_on_call(mocker, "ingestion.run.steps.commit_state", call=3)  # two windows are in the shadow

    with pytest.raises(SimulatedCrash):
        deliver(env, FULL, message_id="m2", now=LATER)
    assert rows(env, dataset) == before  # readers still see the whole old snapshot, nothing else
    mocker.stopall()
    crash_on_call(mocker, "ingestion.run.pipeline.update_job")  # swapped in, job not yet marked done
    with pytest.raises(SimulatedCrash):
        deliver(env, FULL, message_id="m2", attempt=2, now=MUCH_LATER)
    assert_table_matches_truth(env, dataset, catalog)
    mocker.stopall()

    redelivered = deliver(env, FULL, message_id="m2", attempt=3, now=MUCH_LATER + timedelta(minutes=15))

    assert redelivered.status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)


def test_replace_a_failed_job_leaves_the_old_content(env, catalog):
    dataset = snapshot_table(env, catalog)
    before = rows(env, dataset)
    catalog.refuse_from = NOW - timedelta(days=3)  # the API refuses the job's last windows: permanent

    assert deliver(env, FULL, message_id="m2", now=LATER) is None  # failed, acknowledged

    failed = runs(env)[-1]
    assert failed["status"] == "failed" and "400" in failed["error_message"]
    assert rows(env, dataset) == before
    catalog.refuse_from = None
    assert deliver(env, FULL, message_id="m3", now=MUCH_LATER).status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)


@pytest.mark.parametrize("mode", ["incremental", "incremental_window", "replay"])
def test_replace_refuses_any_other_sync_mode_before_any_side_effect(env, catalog, mode):
    dataset = setup(env, target={"write": "replace"})
    dates = {"start_date": "2026-03-02"} if mode == "incremental_window" else {}

    assert deliver(env, {"entity": ENTITY, "sync_mode": mode, **dates}) is None

    [run] = runs(env)
    assert run["status"] == "failed"
    assert f"target.write replace: only a complete historical_full snapshot replaces its table, not " \
           f"sync_mode {mode}" in run["error_message"]
    assert bq_helper.get_table(f"{env.settings.project}.{dataset}.items") is None
    assert gcs_helper.list_paths(env.settings.bucket, "") == []
    assert catalog.requests == []
