"""`incremental` (docs/config.md#incremental-without-a-date-filter): which records a run keeps when
the API cannot filter by date, when a sorted feed's walk may stop, and the config checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.contract.config import load_entity
from ingestion.contract.errors import ConfigError
from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.cursor import past_the_slice, record_filter
from tests.support.configs import entity_config

FIELDS = [{"name": "id", "type": "INT64"}, {"name": "updated_at", "type": "TIMESTAMP"}]
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


def entity(**incremental):
    return entity_config({"cursor_field": "updated_at", "incremental": incremental,
                          "records": {"fields": {"updated_at": "meta.updatedAt"}}}, FIELDS)


WHOLE = Slice(None, WINDOW)


def page(records, piece=WHOLE) -> Page:
    return Page(1, piece, ApiResponse("u", 200, b"", None, records), WINDOW.end, source="gs://b/raw")


def at(day: int, hour: int = 0) -> dict:
    return {"id": day * 100 + hour, "meta": {"updatedAt": f"2026-03-{day:02d}T{hour:02d}:00:00Z"}}


def test_a_client_filter_keeps_the_window_and_counts_the_rest():
    crm = entity(client_filter=True)
    late_feb = {"id": 7, "meta": {"updatedAt": "2026-02-28T23:59:59Z"}}
    records = [at(2, 5), at(1, 0), at(1, 23), late_feb, at(2, 0)]
    rows, rejects, filtered = page_rows(page(records), crm, RowBuilder.for_entity(crm), 0,
                                        keep=record_filter(crm, full_snapshot=False))
    assert [r["id"] for r in rows] == [100, 123]  # [start, end): the end itself belongs to the next run
    assert (rejects, filtered) == ([], 3)


def test_a_record_whose_cursor_cannot_be_read_is_rejected_with_its_reason_never_filtered():
    crm = entity(client_filter=True)
    records = [{"id": 1, "meta": {"updatedAt": "yesterday-ish"}}, {"id": 2, "meta": {}}]
    rows, rejects, filtered = page_rows(page(records), crm, RowBuilder.for_entity(crm), 0,
                                        keep=record_filter(crm, full_snapshot=False))
    assert rows == [] and filtered == 0
    assert "updated_at" in rejects[0]["reason"] and "missing updated_at" in rejects[1]["reason"]


def test_a_full_snapshot_and_an_entity_without_client_filter_load_everything():
    assert record_filter(entity(client_filter=True), full_snapshot=True) is None
    assert record_filter(entity(), full_snapshot=False) is None


@pytest.mark.parametrize(("order", "records", "stop"), [
    ("newest_first", [at(1, 3), at(1, 0)], False),  # still inside: the next page may be too
    ("newest_first", [{"id": 1, "meta": {"updatedAt": "2026-02-27T00:00:00Z"}}], True),
    ("newest_first", [at(1, 2), {"id": 1, "meta": {"updatedAt": "2026-02-27T00:00:00Z"}}], False),
    ("newest_first", [], False),  # an empty page says nothing (the paginator ends the walk)
    ("oldest_first", [at(2, 0), at(3, 0)], True),
    ("oldest_first", [at(1, 23), at(2, 0)], False),
    ("unsorted", [{"id": 1, "meta": {"updatedAt": "2020-01-01T00:00:00Z"}}], None),
])
def test_a_sorted_feed_stops_after_a_page_wholly_beyond_the_window(order, records, stop):
    done = past_the_slice(entity(order=order), full_snapshot=False)
    assert (None if done is None else done(page(records))) is stop


def test_a_full_snapshot_reads_a_sorted_feed_to_its_end():
    assert past_the_slice(entity(order="newest_first"), full_snapshot=True) is None


def test_a_sequence_cursor_keeps_what_follows_the_watermark():
    feed = entity_config({"cursor_field": "seq", "merge_keys": ["seq"], "incremental": {
        "cursor_type": "integer", "client_filter": True, "order": "newest_first"}},
        [{"name": "seq", "type": "INT64"}])
    keep, done = record_filter(feed, False), past_the_slice(feed, False)
    piece = Slice(None, WINDOW, after=41)
    assert [keep({"seq": s}, piece) for s in (40, 41, "42", 1000)] == [False, True, True, True]
    assert all(keep({"seq": s}, Slice(None, WINDOW)) for s in (1, 40))  # no watermark yet: all
    assert done(page([{"seq": 40}, {"seq": 12}], piece)) and not done(page([{"seq": 41}], piece))


SOURCE = {"base_url": "https://api.example.com", "start_date": "2026-01-01", "merge_keys": ["id"],
          "request": {"path": "/x"}, "records": {"path": "data"}, "pagination": {"type": "single"},
          "target": {"dataset": "d", "table": "t"}}


@pytest.mark.parametrize(("changes", "fields", "expected"), [
    ({"incremental": {"client_filter": True}}, FIELDS, "incremental: needs cursor_field"),
    ({"cursor_field": "updated_at", "incremental": {"cursor_type": "integer"}}, FIELDS,
     "cursor_field 'updated_at' has type TIMESTAMP; expected one of INT64, INTEGER"),
    ({"cursor_field": "id", "incremental": {"cursor_type": "integer", "param": "since_id"},
      "date_filter": {"start_param": "since"}}, FIELDS, "send the watermark with incremental.param"),
    ({"cursor_field": "id", "lookback": "PT1H", "incremental": {"cursor_type": "integer"}}, FIELDS,
     "lookback: a duration cannot be taken off an integer cursor"),
    ({"cursor_field": "updated_at", "incremental": {"param": "since", "cursor_type": "timestamp"}},
     FIELDS, "incremental.param: only for cursor_type integer or string"),
])
def test_incremental_settings_that_cannot_work_are_refused(tmp_path: Path, changes, fields, expected):
    for folder, doc in (("config", {**SOURCE, **changes}), ("schema", fields)):
        (tmp_path / folder / "acme").mkdir(parents=True)
        (tmp_path / folder / "acme" / "items.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="acme/items") as error:
        load_entity("acme/items", tmp_path / "config", tmp_path / "schema")
    assert expected in str(error.value)
