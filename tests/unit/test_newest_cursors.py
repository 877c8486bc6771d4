"""The next watermarks come from the staged rows themselves (no query over the staging table):
the newest cursor per fan-out item, compared as BigQuery compares the staged values."""

from __future__ import annotations

from datetime import UTC, datetime

from ingestion.rows.cursor import NewestCursors


def newest(kind: str, pages: list[list[dict]], item: str | None = None) -> dict:
    found = NewestCursors("c", kind, item)
    for rows in pages:
        found.add(rows)
    return found.found


def test_a_timestamp_with_a_fraction_is_newer_than_the_same_second_without_one():
    pages = [[{"c": "2026-03-01T10:00:07.5Z"}, {"c": "2026-03-01T10:00:07Z"}],
             [{"c": "2026-03-01T10:00:07.25Z"}, {"c": "2026-02-28T23:59:59.999999Z"}]]

    assert newest("TIMESTAMP", pages) == {None: datetime(2026, 3, 1, 10, 0, 7, 500000, tzinfo=UTC)}


def test_the_newest_page_need_not_be_the_last_and_rows_without_a_cursor_do_not_count():
    pages = [[{"c": "2026-03-02T00:00:00Z"}], [{"c": None}, {"x": 1}], [{"c": "2026-03-01T00:00:00Z"}]]

    assert newest("TIMESTAMP", pages) == {None: datetime(2026, 3, 2, tzinfo=UTC)}
    assert newest("TIMESTAMP", [[{"c": None}], []]) == {}


def test_dates_and_civil_times_become_utc_instants():
    assert newest("DATE", [[{"c": "2026-03-01"}, {"c": "2026-12-31"}]]) == \
        {None: datetime(2026, 12, 31, tzinfo=UTC)}
    assert newest("DATETIME", [[{"c": "2026-03-01 10:00:07.500000"}, {"c": "2026-03-01 10:00:07"}]]) == \
        {None: datetime(2026, 3, 1, 10, 0, 7, 500000, tzinfo=UTC)}


def test_integer_and_string_sequences_keep_their_values():
    assert newest("INT64", [[{"c": 9}, {"c": 10}], [{"c": 2}]]) == {None: 10}
    assert newest("STRING", [[{"c": "a-9"}, {"c": "a-10"}]]) == {None: "a-9"}  # as BigQuery orders text


def test_each_fan_out_item_gets_its_own_newest_keyed_as_its_text():
    pages = [[{"c": 5, "acct": 1}, {"c": 7, "acct": 2}], [{"c": 6, "acct": 1}, {"c": 1, "acct": None}]]

    assert newest("INT64", pages, item="acct") == {"1": 6, "2": 7, None: 1}
