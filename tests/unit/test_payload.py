"""Trigger message validation and window planning."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.contract.config import EntityConfig
from ingestion.contract.errors import PayloadError
from ingestion.contract.payload import decode_message_data, parse_request, request_from_envelope
from ingestion.model import Window
from ingestion.planning.windows import plan_windows
from tests.support.configs import entity_config

T = lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC)  # noqa: E731


def entity(step: str | None = None) -> EntityConfig:
    return entity_config({"start_date": "2026-01-01", "lookback": "PT2H",
                          "date_filter": {"start_param": "since", **({"step": step} if step else {})}})


def test_decodes_base64_json_objects():
    data = base64.b64encode(json.dumps({"entity": "a/b"}).encode()).decode()
    assert decode_message_data(data) == {"entity": "a/b"}


@pytest.mark.parametrize("payload, message", [
    ({}, "(top level): 'entity' is a required property"),
    ({"entity": "orders"}, "entity: 'orders' does not match"),
    ({"entity": "a/b", "mode": "full"}, "Additional properties are not allowed ('mode' was unexpected)"),
    ({"entity": "a/b", "sync_mode": "full"}, "sync_mode: 'full' is not one of"),
    ({"entity": "a/b", "sync_mode": "incremental_window"}, "incremental_window needs a start_date"),
    ({"entity": "a/b", "sync_mode": "incremental_window", "start_date": "yesterday"},
     "not an ISO date or datetime: 'yesterday'"),
    ({"entity": "a/b", "sync_mode": "incremental_window", "start_date": "2026-03-01",
      "end_date": "2026-02-01"}, "start_date 2026-03-01 is not before end_date 2026-02-01"),
    ({"entity": "a/b", "sync_mode": "historical_full", "end_date": "2026-02-01"},
     "historical_full always covers the config's start_date up to now"),
    ({"entity": "a/b", "parallel": 4}, "parallel applies to incremental_window and historical_full"),
    ({"entity": "a/b", "sync_mode": "historical_full", "parallel": 1}, "parallel: 1 is less than"),
    ({"entity": "a/b", "chunk": 2}, "'job' is a dependency of 'chunk'"),
    ({"entity": "a/b", "job": "../x"}, "job: '../x' does not match"),
    ({"entity": "a/b", "job": "j1", "sync_mode": "incremental_window", "start_date": "2026-03-01"},
     "a job message continues a planned job"),
    ({"entity": "a/b", "start_date": "2026-03-01"}, "incremental always continues from the stored"),
    ({"entity": "a/b", "start_date": 20260301, "sync_mode": "incremental_window"},
     "start_date: 20260301 is not of type 'string'"),
])
def test_bad_payloads_say_what_is_wrong(payload, message):
    with pytest.raises(PayloadError) as error:
        parse_request(payload)
    assert message in str(error.value)


def test_dates_are_utc_and_a_bare_end_date_includes_its_day():
    request = parse_request({"entity": "a/b", "sync_mode": "incremental_window",
                             "start_date": "2026-02-01", "end_date": "2026-02-28"})
    assert (request.start, request.end) == (T("2026-02-01T00:00"), T("2026-03-01T00:00"))
    request = parse_request({"entity": "a/b", "sync_mode": "incremental_window",
                             "start_date": "2026-02-01T10:00:00+02:00", "end_date": "2026-02-01T12:00"})
    assert (request.start, request.end) == (T("2026-02-01T08:00"), T("2026-02-01T12:00"))


def test_each_attempt_gets_its_own_run_id_naming_the_message():
    a = parse_request({"entity": "a/b"}, message_id="123")
    b = parse_request({"entity": "a/b"}, message_id="123", attempt=2)
    assert a.run_id != b.run_id
    assert a.run_id.endswith("_123") and b.run_id.endswith("_123")
    assert re.fullmatch(r"\d{8}T\d{12}_123", a.run_id)


def test_incremental_starts_at_start_date_then_at_watermark_minus_lookback():
    now = T("2026-01-03T00:00")
    request = parse_request({"entity": "a/b"})
    assert plan_windows(entity(), request, None, now) == [Window(T("2026-01-01T00:00"), now)]
    watermark = T("2026-01-02T06:00")
    assert plan_windows(entity(), request, watermark, now) == [Window(T("2026-01-02T04:00"), now)]


def test_windows_are_sliced_by_step_and_never_reach_into_the_future():
    now = T("2026-01-03T12:00")
    request = parse_request({"entity": "a/b", "sync_mode": "incremental_window",
                             "start_date": "2026-01-01", "end_date": "2026-01-05"})
    windows = plan_windows(entity("P1D"), request, None, now)
    assert windows == [Window(T("2026-01-01T00:00"), T("2026-01-02T00:00")),
                       Window(T("2026-01-02T00:00"), T("2026-01-03T00:00")),
                       Window(T("2026-01-03T00:00"), now)]
    assert all(w.end - w.start <= timedelta(days=1) for w in windows)


def test_a_watermark_ahead_of_now_plans_nothing():
    now = T("2026-01-03T00:00")
    assert plan_windows(entity(), parse_request({"entity": "a/b"}), now + timedelta(days=1), now) == []


@pytest.mark.parametrize("envelope", [None, [], {"subscription": "s"}, {"message": "text"}])
def test_malformed_envelopes_are_payload_errors(envelope):
    with pytest.raises(PayloadError, match="not a Pub/Sub push envelope"):
        request_from_envelope(envelope)


def test_envelope_fields_reach_the_request():
    data = base64.b64encode(b'{"entity": "a/b"}').decode()
    request = request_from_envelope({"message": {"data": data, "messageId": "42"},
                                     "deliveryAttempt": 3})
    assert (request.entity, request.message_id, request.attempt) == ("a/b", "42", 3)


def test_a_gap_of_an_aligned_entity_is_widened_to_whole_steps_and_others_are_not():
    from ingestion.planning.gaps import widen

    hole = Window(T("2026-03-02T00:30:00"), T("2026-03-02T02:10:00"))
    hourly = entity_config({"date_filter": {"start_param": "since", "step": "PT1H", "align": True}})
    assert widen(hourly, hole) == Window(T("2026-03-02T00:00:00"), T("2026-03-02T03:00:00"))
    assert widen(entity("PT1H"), hole) == hole  # not aligned: exactly the hole
