"""Watermark state under concurrent writers (generation preconditions on fake-gcs-server). The log
formats: tests/unit/test_logs.py; the log lines of a delivery: test_delivery_logs.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ingestion.model import Window
from ingestion.planning import state
from tests.support.configs import entity_config
from utils import gcs_helper

ENTITY = entity_config({"start_date": "2026-03-01"})
T = lambda day: datetime(2026, 3, day, tzinfo=UTC)  # noqa: E731


def stored(env) -> dict:
    return json.loads(gcs_helper.read(env.settings.bucket, "state/acme/items.json")[0])


def commit(env, start: int, end: int, newest: int | None, run_id: str = "r") -> datetime | None:
    """Record window [day start, day end) as loaded with newest cursor `newest`."""
    return state.commit_state(ENTITY, env.settings.bucket, None, [Window(T(start), T(end))],
                              T(newest) if newest else None, run_id)


def test_watermark_only_moves_forward(env):
    assert commit(env, 1, 6, 5) == T(5)
    assert commit(env, 1, 4, 3) == T(5)
    assert stored(env)["watermark"] == "2026-03-05T00:00:00Z"
    assert state.read_watermark(ENTITY, env.settings.bucket) == T(5)


def test_covered_windows_coalesce_and_a_backfill_after_a_gap_keeps_the_watermark(env):
    assert commit(env, 1, 3, 2) == T(2)
    assert commit(env, 5, 8, 7) == T(2)  # 3..5 was never loaded: incremental runs must still see it
    assert stored(env)["covered"] == [
        ["2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", "2026-03-02T00:00:00Z"],
        ["2026-03-05T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-07T00:00:00Z"]]
    # the hole is filled: one stretch from the start date, whose newest cursor is that of the
    # backfill committed earlier
    assert commit(env, 3, 5, 4) == T(7)
    assert stored(env)["covered"] == [
        ["2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-07T00:00:00Z"]]


def test_a_cursor_beyond_the_loaded_window_is_capped_at_its_end(env):
    """A bogus far-future cursor must not push the watermark past data never asked for."""
    assert commit(env, 1, 4, 28) == T(4)


def test_a_window_without_records_is_covered_but_moves_nothing(env):
    assert commit(env, 1, 4, None) is None
    assert stored(env)["watermark"] is None and stored(env)["covered"][0][1] == "2026-03-04T00:00:00Z"


def race_after_first_read(mocker, competitor: dict) -> None:
    """Fault injection: another run commits its state right after our first state read."""
    real_read = gcs_helper.read
    raced = []

    def read_then_race(bucket_name, path):
        result = real_read(bucket_name, path)
        if not raced:
            raced.append(True)
            gcs_helper.upload(bucket_name, path, json.dumps({**competitor, "run_id": "other"}))
        return result

    mocker.patch.object(gcs_helper, "read", side_effect=read_then_race)


def test_a_concurrent_newer_watermark_is_never_overwritten_by_an_older_one(env, mocker):
    """Our precondition fails, we re-read, and since T(9) is newer than our T(7) we leave it."""
    commit(env, 1, 2, 1, "r0")
    race_after_first_read(mocker, {"watermark": "2026-03-09T00:00:00Z", "covered": [
        ["2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z", "2026-03-09T00:00:00Z"]]})

    assert commit(env, 1, 8, 7, "mine") == T(9)
    assert stored(env)["watermark"] == "2026-03-09T00:00:00Z"


def test_a_lost_race_is_retried_on_top_of_what_the_other_writer_stored(env, mocker):
    race_after_first_read(mocker, {"watermark": "2026-03-02T00:00:00Z", "covered": [
        ["2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", "2026-03-02T00:00:00Z"]]})

    assert commit(env, 3, 8, 7, "mine") == T(7)
    assert stored(env)["watermark"] == "2026-03-07T00:00:00Z"
    assert stored(env)["covered"] == [  # both writers' windows are kept
        ["2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-07T00:00:00Z"]]


def test_a_commit_after_planning_writes_the_version_planning_read_without_reading_it_again(env, mocker):
    commit(env, 1, 3, 2, "r0")
    assert state.read_watermark(ENTITY, env.settings.bucket) == T(2)  # what planning does
    reads = mocker.spy(gcs_helper, "read")

    assert commit(env, 3, 6, 5, "next") == T(5)
    assert reads.call_count == 0
    assert stored(env)["run_id"] == "next" and stored(env)["covered"] == [
        ["2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-05T00:00:00Z"]]


def test_a_state_changed_after_planning_read_it_is_read_again_not_overwritten(env):
    """Another run commits between our planning and our commit: our write, conditional on the
    version planning read, fails and is redone on top of theirs."""
    commit(env, 1, 2, 1, "r0")
    state.read_watermark(ENTITY, env.settings.bucket)
    gcs_helper.upload(env.settings.bucket, "state/acme/items.json", json.dumps({
        "watermark": "2026-03-09T00:00:00Z", "run_id": "other",
        "covered": [["2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z", "2026-03-09T00:00:00Z"]]}))

    assert commit(env, 1, 8, 7, "mine") == T(9)
    assert stored(env)["watermark"] == "2026-03-09T00:00:00Z" and stored(env)["run_id"] == "mine"


def test_a_state_deleted_after_planning_read_it_is_written_afresh(env):
    """An operator deletes the state (to reload from the start date) between our planning and our
    commit: the commit starts a new state, not one built on the version planning read."""
    commit(env, 1, 5, 4, "r0")
    state.read_watermark(ENTITY, env.settings.bucket)
    gcs_helper.client().bucket(env.settings.bucket).blob("state/acme/items.json").delete()

    assert commit(env, 6, 8, 7, "mine") is None  # the days before the window were never loaded now
    assert stored(env)["covered"] == [
        ["2026-03-06T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-07T00:00:00Z"]]
