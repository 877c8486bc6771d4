"""Windows and fan-out items read in parallel (ingestion/source/readahead.py): up to
`http.max_concurrency` requests in flight across all of them, report jobs of every item waiting
at the same time, pages staged in window order whatever finished first, and a failure or the end
of a run leaving nothing running and nothing half-loaded."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from ingestion.contract.errors import ApiError
from ingestion.contract.payload import SyncRequest
from ingestion.run.pipeline import run_sync
from tests.support.apis import NOW
from tests.support.apis.hourly import START, TOKEN, HourlyApi
from tests.support.catalog import runs, sync
from tests.support.delivery import store_secret
from tests.support.tables import table, table_rows

ENTITY = "hourly/stats"
SCHEMA = [{"name": "id", "type": "STRING", "mode": "REQUIRED"}, {"name": "account", "type": "STRING"},
          {"name": "at", "type": "TIMESTAMP"}, {"name": "clicks", "type": "INT64"}]
REPORT_JOB = {
    "create": {"path": "/v1/reports", "method": "POST",
               "body": {"account": "{item}", "since": "{start}", "until": "{end}"}},
    "job_id_path": "report_id", "poll": {"path": "/v1/reports/{job_id}"}, "status_path": "status",
    "done_values": ["done"], "failed_values": ["failed"], "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.2, "timeout_seconds": 60,
}


def setup(env, serve, api: HourlyApi, concurrency: int, **changes) -> str:
    serve(api, "HOURLY_API_URL")
    store_secret(env.settings.project, "hourly-api", {"token": TOKEN})
    dataset = f"hourly_{env.suffix}"
    config = {
        "base_url": "${HOURLY_API_URL}", "start_date": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "auth": {"type": "bearer", "secret": "hourly-api", "token_key": "token"},
        "http": {"max_concurrency": concurrency, "max_retries": 0},
        "request": {"path": "/v1/stats", "params": {"account": "a1"}},
        "records": {"path": "data"},
        "pagination": {"type": "page_number", "page_param": "page", "total_pages_path": "meta.total_pages"},
        "date_filter": {"start_param": "since", "end_param": "until", "format": "iso_datetime_z",
                        "step": "PT1H"},
        "cursor_field": "at", "merge_keys": ["id"],
        "target": {"dataset": dataset, "table": "stats"}, **changes,
    }
    env.write(ENTITY, config, SCHEMA)
    return dataset


def with_reports(**job) -> dict:
    return {"fan_out": {"items": ["a1", "a2", "a3", "a4", "a5", "a6"], "column": "account"},
            "date_filter": {"format": "iso_datetime_z"}, "async_job": {**REPORT_JOB, **job},
            "request": {"path": "/v1/reports/{job_id}/rows"}}


def page_of(row: dict) -> int:
    """The run-wide page number a row was staged from (its raw page, `_source_object`)."""
    return int(re.search(r"page[-=]0*(\d+)", row["_source_object"]).group(1))


def test_windows_are_read_in_parallel_and_staged_in_window_order(env, serve):
    api = HourlyApi(hours=24, per_hour=3, per_page=2)  # two pages an hour
    dataset = setup(env, serve, api, concurrency=4)

    result = sync(env, ENTITY)

    loaded = table(env, dataset, "stats", "id")
    assert result.status == "succeeded" and set(loaded) == set(api.truth())
    assert api.max_in_flight == 4  # windows overlap, and never more than max_concurrency at once
    assert result.pages == 48 + 1  # two an hour, and one (empty) for the last half hour before now
    by_time = sorted(loaded.values(), key=lambda r: r["at"])
    assert [page_of(r) for r in by_time] == sorted(page_of(r) for r in by_time)  # numbered in window order


def test_one_request_at_a_time_without_concurrency(env, serve):
    api = HourlyApi(hours=6)
    dataset = setup(env, serve, api, concurrency=1)

    assert sync(env, ENTITY).status == "succeeded"
    assert api.max_in_flight == 1 and set(table(env, dataset, "stats", "id")) == set(api.truth())


def test_report_jobs_of_every_item_wait_at_the_same_time(env, serve):
    api = HourlyApi(accounts=("a1", "a2", "a3", "a4", "a5", "a6"), hours=2, ready_after=0.5)
    dataset = setup(env, serve, api, concurrency=2, **with_reports())

    result = sync(env, ENTITY)

    assert result.status == "succeeded" and set(table(env, dataset, "stats", "id")) == set(api.truth())
    jobs = list(api.jobs.values())
    assert len(jobs) == 6  # one job per account (one window each: no step in the date filter)
    # all six created before any was read: the jobs waited at the same time, not one after another
    assert max(j["created_at"] for j in jobs) < min(j["read_at"] for j in jobs)
    assert api.max_in_flight <= 2


@pytest.mark.parametrize("create_status", [None, "running"])
def test_a_job_the_create_response_says_is_running_is_first_polled_after_the_interval(
        env, serve, create_status):
    api = HourlyApi(accounts=("a1", "a2", "a3", "a4", "a5", "a6"), hours=2, ready_after=0.5,
                    create_status=create_status)
    dataset = setup(env, serve, api, concurrency=2, **with_reports(poll_interval_seconds=0.6))

    assert sync(env, ENTITY).status == "succeeded"

    assert set(table(env, dataset, "stats", "id")) == set(api.truth())
    polls = [len(job["polled_at"]) for job in api.jobs.values()]
    if create_status == "running":  # no poll to hear it again: one, when the job is ready
        assert polls == [1] * 6
        assert all(job["polled_at"][0] - job["created_at"] >= 0.6 for job in api.jobs.values())
    else:  # nothing said: polled at once, then after the interval
        assert polls == [2] * 6


def test_max_jobs_in_flight_caps_the_jobs_waiting_at_once(env, serve):
    api = HourlyApi(accounts=("a1", "a2", "a3", "a4", "a5", "a6"), hours=2, ready_after=0.3)
    dataset = setup(env, serve, api, concurrency=4, **with_reports(max_jobs_in_flight=2))

    assert sync(env, ENTITY).status == "succeeded"

    assert set(table(env, dataset, "stats", "id")) == set(api.truth())
    jobs = sorted(api.jobs.values(), key=lambda j: j["created_at"])
    for later in jobs[2:]:  # a third job starts only once an earlier one has been read
        assert sum(j["created_at"] <= later["created_at"] < j.get("read_at", float("inf"))
                   for j in jobs if j is not later) <= 1


def test_a_failing_report_job_stops_the_jobs_waiting_beside_it(env, serve):
    api = HourlyApi(accounts=("a1", "a2", "a3", "a4", "a5", "a6"), hours=2, ready_after=30,
                    failing={"a1"})
    dataset = setup(env, serve, api, concurrency=2, **with_reports())

    with pytest.raises(ApiError, match="ended with status 'failed'"):
        sync(env, ENTITY)

    [row] = runs(env)
    assert row["status"] == "failed" and "failed" in row["error_message"]
    assert table_rows(env, dataset, "stats") == []
    assert not any("read_at" in job for job in api.jobs.values())  # the others were not waited for
    sent = len(api.requests)
    time.sleep(1)  # the other five jobs' workers would poll every 0.2 s: they were stopped
    assert len(api.requests) == sent


def test_a_failing_window_fails_at_its_checkpoint_and_the_next_run_resumes_there(env, serve):
    api = HourlyApi(hours=8, broken_hour=5)
    dataset = setup(env, serve, api, concurrency=4)
    one_window_a_step = dataclasses.replace(env.settings, step_records=1)

    with pytest.raises(Exception, match="this hour is broken"):
        run_sync(SyncRequest(ENTITY, "incremental"), one_window_a_step, now=NOW)

    # windows 0-4 committed, one step each; the windows read ahead past the broken one are not loaded
    loaded = table(env, dataset, "stats", "id")
    assert {r["at"].hour for r in loaded.values()} == {(START.hour + h) % 24 for h in range(5)}
    api.broken_hour = None
    resumed = run_sync(SyncRequest(ENTITY, "incremental"), one_window_a_step, now=NOW)
    assert resumed.status == "succeeded"
    assert set(table(env, dataset, "stats", "id")) == set(api.truth())
    assert resumed.window_start == max(r["at"] for r in loaded.values())  # from the watermark committed
