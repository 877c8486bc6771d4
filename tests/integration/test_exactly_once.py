"""An exactly-once effect under Pub/Sub's at-least-once delivery: a crash at every point of a run,
followed by the redelivery; duplicate and concurrent deliveries; the watermark never moving back
nor skipping data. Every test compares the final BigQuery table with the API's ground truth."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.contract.errors import LeaseHeld
from ingestion.model import Window
from ingestion.planning import state as state_module
from ingestion.warehouse.ledger import runs_table_id
from tests.support.apis import NOW
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
from tests.support.configs import entity_config
from tests.support.delivery import published
from tests.support.faults import SimulatedCrash, crash_on_call
from utils import bq_helper, gcs_helper

LATER = NOW + timedelta(minutes=15)  # past any lease a crashed run left (they last 10 minutes)
ONE_SLICE_PER_STEP = {"step_records": 1}  # every 3-day window is a step of its own


CRASH_POINTS = {
    "after the raw pages, before the load": "ingestion.warehouse.load.load_staging",  # in EarlyLoads
    "after the staging load, before the MERGE": "ingestion.run.steps.merge_into_target",
    "after the MERGE, before the state": "ingestion.run.steps.commit_state",
    "after the state, before the checkpoint": "ingestion.run.steps.update_job",
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_in_a_step_then_the_redelivery_gives_the_clean_table(env, catalog, mocker, point):
    """Four windows, one step each; the run dies in its second step."""
    dataset = setup(env)
    env.settings = replace(env.settings, **ONE_SLICE_PER_STEP)
    crash_on_call(mocker, CRASH_POINTS[point], call=2)

    with pytest.raises(SimulatedCrash):
        deliver(env)
    assert not bq_helper.get_table(runs_table_id(env.settings))  # a dead process writes no run row...
    first_step = {n for n, i in catalog.truth().items() if i["updated_at"] < datetime(2026, 3, 4, tzinfo=UTC)}
    assert set(rows(env, dataset)) >= first_step  # ...but its committed first step stays

    # Pub/Sub redelivers at once: the dead run's lease has not expired, so the delivery is deferred
    with pytest.raises(LeaseHeld):
        deliver(env, attempt=2)
    mocker.stopall()
    redelivered = deliver(env, attempt=3, now=LATER)

    assert redelivered.status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)
    assert stored_state(env)["watermark"] == newest_cursor(catalog)
    assert [(r["status"], r["attempt"]) for r in runs(env)] == [("skipped", 2), ("succeeded", 3)]
    assert "deferred" in runs(env)[0]["error_message"]

    # the next message still sees every later change: the watermark skipped nothing
    catalog.put(3, name="renamed")
    catalog.put(21)
    assert deliver(env, message_id="m2", now=LATER).status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)


def test_a_crash_after_the_checkpoint_before_the_run_row_is_not_run_again(env, catalog, mocker):
    dataset = setup(env)
    crash_on_call(mocker, "ingestion.run.pipeline.append_run")
    with pytest.raises(SimulatedCrash):
        deliver(env)
    mocker.stopall()
    before = rows(env, dataset)

    redelivered = deliver(env, attempt=2, now=LATER)

    assert redelivered.status == "skipped" and redelivered.error_message == "job m1 already succeeded"
    assert rows(env, dataset) == before  # identical, lineage columns included
    assert_table_matches_truth(env, dataset, catalog)


def test_a_crash_before_the_continuation_is_published_is_resumed_by_the_redelivery(
        env, catalog, mocker, stack):
    dataset = setup(env)
    env.settings = replace(env.settings, time_budget_seconds=0)
    crash_on_call(mocker, "utils.pubsub_helper.publish_json")
    with pytest.raises(SimulatedCrash):
        deliver(env)
    mocker.stopall()

    # every redelivery does one more window and hands the rest on; the duplicate continuation
    # messages this produces find nothing left and exit
    pending = [("m1", {"entity": ENTITY})]
    attempt = 1
    while pending:
        message_id, payload = pending.pop(0)
        attempt += 1
        row = deliver(env, payload, message_id, attempt=attempt, now=LATER)
        if row.status == "continued":
            pending.append(published(stack, env)[-1])
    assert_table_matches_truth(env, dataset, catalog)
    assert stored_state(env)["watermark"] == newest_cursor(catalog)


def test_the_same_message_delivered_three_times_leaves_the_table_of_one_delivery(env, catalog):
    dataset = setup(env)
    assert deliver(env).status == "succeeded"
    once = rows(env, dataset)
    catalog.put(5, name="changed after the first delivery")  # a redelivery must not pick this up

    statuses = [deliver(env, attempt=n).status for n in (2, 3)]

    assert statuses == ["skipped", "skipped"]
    assert rows(env, dataset) == once


def test_concurrent_deliveries_of_one_message_one_merges_the_other_defers(env, catalog):
    dataset = setup(env)
    catalog.gate = threading.Event()
    outcome: dict = {}
    first = threading.Thread(target=lambda: outcome.update(first=deliver(env)))
    first.start()
    assert catalog.entered.wait(30)  # the first delivery holds the lease and is fetching

    with pytest.raises(LeaseHeld):
        deliver(env, attempt=2)  # Pub/Sub's duplicate arrives meanwhile
    catalog.gate.set()
    first.join(60)

    assert outcome["first"].status == "succeeded"
    assert deliver(env, attempt=3).status == "skipped"  # the deferred duplicate, redelivered
    assert_table_matches_truth(env, dataset, catalog)
    assert [r["rows_merged"] for r in runs(env) if r["status"] == "succeeded"] == [20]


def test_a_second_scheduled_run_exits_cleanly_while_one_is_running(env, catalog):
    dataset = setup(env)
    catalog.gate = threading.Event()
    outcome: dict = {}
    first = threading.Thread(target=lambda: outcome.update(first=deliver(env, message_id="tick-1")))
    first.start()
    assert catalog.entered.wait(30)

    second = deliver(env, message_id="tick-2")  # acknowledged: the running one covers it
    catalog.gate.set()
    first.join(60)

    assert second.status == "skipped" and "another run holds the lease" in second.error_message
    assert outcome["first"].status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)


def test_backfills_of_disjoint_windows_run_side_by_side(env, catalog):
    """The lease is per window: a backfill of other days does not wait for a running one."""
    dataset = setup(env)
    catalog.gate = threading.Event()
    outcome: dict = {}
    early = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-03-01",
             "end_date": "2026-03-04T00:00:00Z"}
    late = {**early, "start_date": "2026-03-04T00:00:00Z", "end_date": "2026-03-10T12:00:00Z"}
    first = threading.Thread(target=lambda: outcome.update(early=deliver(env, early, "early")))
    first.start()
    assert catalog.entered.wait(30)
    threading.Timer(1.0, catalog.gate.set).start()  # the late one would wait on the gate too

    assert deliver(env, late, "late").status == "succeeded"
    first.join(60)

    assert outcome["early"].status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)
    assert stored_state(env)["watermark"] == newest_cursor(catalog)


def test_the_watermark_never_moves_back_and_never_passes_a_hole(env):
    """Windows committed in random order, some twice: the watermark is at every moment the newest
    cursor of the stretch loaded without a hole from the start date, and never decreases."""
    entity = entity_config({"start_date": "2026-03-01"}, name="acme/w")
    day = lambda n: datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=n)  # noqa: E731
    order = [*range(10), 2, 7]
    random.Random(7).shuffle(order)
    loaded: set[int] = set()
    previous = None
    for n in order:
        watermark = state_module.commit_state(entity, env.settings.bucket, None,
                                              [Window(day(n), day(n + 1))], day(n) + timedelta(hours=20), "r")
        loaded.add(n)
        contiguous = next(k for k in range(11) if k not in loaded)
        expected = day(contiguous - 1) + timedelta(hours=20) if contiguous else None
        assert watermark == max(filter(None, [expected, previous]), default=None)
        assert previous is None or watermark >= previous
        previous = watermark


def test_a_background_upload_that_fails_fails_the_step_and_the_redelivery_is_clean(env, catalog, mocker):
    """Raw pages and staged parts upload in background threads: a failure there must still fail
    the step before its load, and a redelivery must then give the clean table."""
    from google.api_core.exceptions import ServiceUnavailable

    dataset = setup(env)
    real_upload = gcs_helper.upload

    def flaky(bucket, path, *args, **kwargs):
        if path.startswith("raw/") and "/pages-" in path:  # the step's raw pages, one object
            raise ServiceUnavailable("GCS is having a moment")
        return real_upload(bucket, path, *args, **kwargs)

    mocker.patch("utils.gcs_helper.upload", side_effect=flaky)
    with pytest.raises(ServiceUnavailable):
        deliver(env)
    assert not bq_helper.get_table(f"{env.settings.project}.{dataset}.items").num_rows
    assert gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")[0] is None  # no watermark
    mocker.stopall()

    assert deliver(env, attempt=2, now=LATER).status == "succeeded"
    assert_table_matches_truth(env, dataset, catalog)
