"""Freshness objectives: `freshness` as written, else twice the longest gap between two firings of
the schedule's cron (ingestion/contract/cron.py), else none; a cron that cannot work is refused by
`validate`. And the states `status` derives from them (ingestion/ops/status.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.contract.config import load_entity
from ingestion.contract.cron import longest_gap
from ingestion.contract.errors import ConfigError
from ingestion.ops.status import EntityStatus, state_of
from ingestion.ops.status_report import duration_text
from tests.support.configs import SCHEMA, entity_config

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize("cron,gap", [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("*/7 * * * *", timedelta(minutes=7)),  # 56 → next hour's 0 is only 4 minutes
    ("5 * * * *", HOUR),
    ("0,30 9 * * *", timedelta(hours=23, minutes=30)),
    ("15 */6 * * *", 6 * HOUR),
    ("0 6 * * *", DAY),
    ("0 9-17 * * 1-5", timedelta(hours=64)),  # Friday 17:00 → Monday 09:00
    ("0 9-17 * * MON-FRI", timedelta(hours=64)),
    ("30 2 * * sun", 7 * DAY),
    ("30 2 * * 7", 7 * DAY),  # 7 is Sunday too
    ("0 0 1 * *", 31 * DAY),
    ("0 0 31 * *", 61 * DAY),  # 31 Aug → 31 Oct
    ("0 0 1 jan *", 366 * DAY),  # across a leap year
    ("0 0 29 2 *", (4 * 365 + 1) * DAY),  # leap days only
    ("0 12 1 * MON", 7 * DAY),  # both day fields restricted: either one fires (cron's rule)
    ("0 12 */1 * 1", 7 * DAY),  # a day field starting with * : both must match, so Mondays only
    ("0 3 1-7 * *", timedelta(days=25)),  # the 7th → the 1st after a 31-day month
    ("10/25 * * * *", timedelta(minutes=35)),  # 10, 35 → 10 of the next hour
])
def test_longest_gap_between_two_firings(cron, gap):
    assert longest_gap(cron) == gap


@pytest.mark.parametrize("cron,message", [
    ("61 * * * *", "minute: '61' is outside 0-59"),
    ("* 5-1 * * *", "hour: '5-1' is a range backwards"),
    ("*/0 * * * *", "minute: step '0' is not a positive number"),
    ("0 0 * FOO *", "month: 'FOO' is not a number or a name (JAN…)"),
    ("0 0 30 2 *", "never fires"),
    ("* * * *", "5 fields"),
])
def test_a_cron_that_cannot_work_is_refused(cron, message):
    with pytest.raises(ValueError, match=message.replace("*", r"\*").replace("(", r"\(").replace(")", r"\)")):
        longest_gap(cron)


def test_the_objective_is_freshness_else_twice_the_schedule_interval_else_none():
    assert entity_config({"schedule": {"cron": "*/15 * * * *"}}).freshness_objective == timedelta(minutes=30)
    assert entity_config({"schedule": {"cron": "0 6 * * *"}}).freshness_objective == 2 * DAY
    assert entity_config({"schedule": {"cron": "0 6 * * *"}, "freshness": "PT36H"}).freshness_objective \
        == 36 * HOUR
    assert entity_config({"freshness": "P2D"}).freshness_objective == 2 * DAY  # no schedule needed
    assert entity_config().freshness_objective is None


def write_entity(tmp_path, entity: dict, source: dict | None = None) -> None:
    (tmp_path / "config/acme").mkdir(parents=True)
    (tmp_path / "schema/acme").mkdir(parents=True)
    base = {"request": {"path": "/items"}, "records": {"path": "data"}, "pagination": {"type": "single"},
            "merge_keys": ["id"], "target": {"table": "items"}}
    (tmp_path / "config/acme/items.json").write_text(json.dumps({**base, **entity}))
    (tmp_path / "config/acme/_source.json").write_text(json.dumps({
        "base_url": "https://api.example.com", "start_date": "2026-01-01", "target": {"dataset": "acme"},
        **(source or {})}))
    (tmp_path / "schema/acme/items.json").write_text(json.dumps(SCHEMA))


def test_freshness_may_be_set_for_a_whole_source(tmp_path):
    write_entity(tmp_path, {"schedule": {"cron": "0 * * * *"}}, {"freshness": "PT6H"})

    entity = load_entity("acme/items", tmp_path / "config", tmp_path / "schema")

    assert entity.freshness_objective == 6 * HOUR


def test_validate_refuses_a_schedule_that_never_fires_and_a_bad_freshness(tmp_path):
    write_entity(tmp_path, {"schedule": {"cron": "0 0 31 4 *"}})
    with pytest.raises(ConfigError, match=r"schedule.cron: '0 0 31 4 \*' never fires"):
        load_entity("acme/items", tmp_path / "config", tmp_path / "schema")

    (tmp_path / "config/acme/items.json").write_text(json.dumps({
        **json.loads((tmp_path / "config/acme/items.json").read_text()), "schedule": {"cron": "0 * * * *"},
        "freshness": "2 hours"}))
    with pytest.raises(ConfigError, match="freshness: '2 hours' does not match"):
        load_entity("acme/items", tmp_path / "config", tmp_path / "schema")


def status(state: str, objective: timedelta | None, last_error: str | None = None) -> EntityStatus:
    return EntityStatus(entity="acme/items", dataset="acme", table="items", objective=objective,
                        last_success=None, watermark=None, age=None, state=state, last_error=last_error,
                        rows=None, runs_24h=0, failures_24h=0)


def test_states_in_order_and_what_needs_attention():
    done = datetime(2026, 3, 1, tzinfo=UTC)
    assert state_of(None, None, HOUR, failing=True) == "NEVER"
    assert state_of(done, HOUR + timedelta(seconds=1), HOUR, failing=True) == "LATE"
    assert state_of(done, HOUR + timedelta(milliseconds=900), HOUR, failing=False) == "OK"  # whole seconds
    assert state_of(done, 2 * DAY, None, failing=True) == "FAILING"  # no objective: never late
    assert state_of(done, timedelta(0), HOUR, failing=False) == "OK"

    assert not status("OK", HOUR).needs_attention
    assert status("LATE", HOUR).needs_attention and status("FAILING", None, "boom").needs_attention
    assert status("NEVER", HOUR).needs_attention  # scheduled, so it should have run
    assert status("NEVER", None, "HTTP 401").needs_attention  # tried and failed
    assert not status("NEVER", None).needs_attention  # nobody schedules or runs it


def test_ages_read_at_a_glance():
    assert [duration_text(d) for d in (None, timedelta(seconds=45), timedelta(minutes=12),
                                       timedelta(hours=3, minutes=5), timedelta(days=2, hours=4))] == \
        ["-", "45s", "12m", "3h05m", "2d04h"]
