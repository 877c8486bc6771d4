"""Coercion of API values to the BigQuery schema, and the schema-evolution plan (no services needed)."""

from __future__ import annotations

import pytest

from ingestion.rows.coerce import CoercionError, coerce_row
from ingestion.warehouse.tables import plan_schema

INSTANT = "2026-03-10T09:30:00Z"


@pytest.mark.parametrize("written", [
    "2026-03-10T12:30:00+0300",            # Jira
    "2026-03-10T12:30:00.000+03:00",
    "2026-03-10T09:30:00Z",
    "2026-03-10 09:30:00",                 # naive: UTC
    "2026-03-10 09:30:00 UTC",
    "2026-03-10T09:30:00.000000000Z",      # nanoseconds
    "20260310T093000Z",                    # ISO basic
    "2026/03/10 09:30:00",
    "Tue, 10 Mar 2026 09:30:00 GMT",       # RFC 2822
    "Tue, 10 Mar 2026 04:30:00 -0500",
    1773135000, "1773135000",              # epoch seconds
    1773135000000, "1773135000000",        # epoch milliseconds
    1773135000000000,                      # epoch microseconds
    "1.773135E9",                          # BigQuery REST (tabledata, getQueryResults)
    "/Date(1773135000000)/",               # Microsoft JSON
    "2026-03-10t09:30:00z",                # lower case
    "2026-03-10T12:30:00+03:00[Europe/Moscow]",  # Java ZonedDateTime
    "March 10, 2026 9:30 AM",              # written out (month name, 4-digit year, day)
    "10 Mar 2026 09:30:00 UTC",
])
def test_common_timestamp_spellings_become_rfc3339_utc(written):
    assert coerce_row({"ts": written}, [{"name": "ts", "type": "TIMESTAMP"}]) == {"ts": INSTANT}


def test_dates_datetimes_and_times_keep_the_wall_clock_as_written():
    fields = [{"name": "d", "type": "DATE"}, {"name": "dt", "type": "DATETIME"},
              {"name": "t", "type": "TIME"}]
    row = {"d": "2026-03-10T23:30:00-05:00", "dt": "2026-03-10T23:30:00.5-05:00", "t": "23:30:00.5"}
    assert coerce_row(row, fields) == {"d": "2026-03-10", "dt": "2026-03-10 23:30:00.500000",
                                       "t": "23:30:00.500000"}


def test_numbers_booleans_and_strings():
    fields = [{"name": n, "type": t} for n, t in [
        ("i", "INTEGER"), ("f", "FLOAT"), ("n", "NUMERIC"), ("big", "BIGNUMERIC"), ("b", "BOOLEAN"),
        ("b2", "BOOL"), ("s", "STRING"), ("s2", "STRING"), ("j", "JSON")]]
    row = {"i": " 42.0 ", "f": "1e3", "n": "12.3456789015", "big": 0.1, "b": "Yes", "b2": 0,
           "s": 12.5, "s2": {"a": [1]}, "j": {"kept": ["as", "is"]}}
    assert coerce_row(row, fields) == {
        "i": 42, "f": 1000.0, "n": "12.345678902", "big": "0.1", "b": True, "b2": False,
        "s": "12.5", "s2": '{"a":[1]}', "j": {"kept": ["as", "is"]}}


def test_blank_or_null_text_in_a_typed_column_is_null():
    fields = [{"name": "i", "type": "INT64"}, {"name": "ts", "type": "TIMESTAMP"},
              {"name": "b", "type": "BOOL"}, {"name": "s", "type": "STRING"},
              {"name": "ns", "type": "INT64", "mode": "REPEATED"},
              {"name": "req", "type": "DATE", "mode": "REQUIRED"}]
    assert coerce_row({"i": "", "ts": "  ", "b": "NULL", "s": "", "ns": ["1", "", None, "null"],
                       "req": "2026-03-10"}, fields) == {"s": "", "ns": [1], "req": "2026-03-10"}
    with pytest.raises(CoercionError, match=r"^req: REQUIRED, but missing or null$"):
        coerce_row({"req": ""}, fields)


def test_nested_records_and_repeated_fields():
    fields = [{"name": "dims", "type": "RECORD", "fields": [
                  {"name": "w", "type": "FLOAT64"}, {"name": "n", "type": "INT64"}]},
              {"name": "lines", "type": "RECORD", "mode": "REPEATED", "fields": [
                  {"name": "qty", "type": "INT64"}]},
              {"name": "tags", "type": "STRING", "mode": "REPEATED"}]
    row = {"dims": '{"w": "0.5", "n": "3", "unknown": 1}', "lines": [{"qty": "2"}, None, {"qty": 1.0}],
           "tags": "solo"}
    assert coerce_row(row, fields) == {"dims": {"w": 0.5, "n": 3}, "lines": [{"qty": 2}, {"qty": 1}],
                                       "tags": ["solo"]}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ({"type": "INT64"}, "4.5", 'x: cannot read "4.5" as INT64 (it has a fraction)'),
    ({"type": "INT64"}, "1,000", 'x: cannot read "1,000" as INT64'),
    ({"type": "INT64"}, True, "x: cannot read true as INT64"),
    ({"type": "INT64"}, 2**63, "x: cannot read 9223372036854775808 as INT64 (out of range)"),
    ({"type": "FLOAT64"}, "NaN", 'x: cannot read "NaN" as FLOAT64 (not a finite number)'),
    ({"type": "NUMERIC"}, "1e30", 'x: cannot read "1e30" as NUMERIC (more than 29 integer digits)'),
    ({"type": "BOOL"}, "maybe", 'x: cannot read "maybe" as BOOL'),
    ({"type": "TIMESTAMP"}, "03/04/2026", 'x: cannot read "03/04/2026" as TIMESTAMP'),
    ({"type": "DATE"}, "yesterday", 'x: cannot read "yesterday" as DATE'),
    ({"type": "DATE"}, "May", 'x: cannot read "May" as DATE'),  # a month name alone is not a date
    ({"type": "BYTES"}, "not base64!", 'x: cannot read "not base64!" as BYTES (base64)'),
    ({"type": "STRING", "mode": "REQUIRED"}, None, "x: REQUIRED, but missing or null"),
    ({"type": "RECORD", "fields": [{"name": "y", "type": "INT64"}]}, {"y": "q"},
     'x.y: cannot read "q" as INT64'),
    ({"type": "RECORD", "fields": []}, [1], "x: cannot read [1] as RECORD (an object)"),
])
def test_values_that_cannot_be_read_name_the_column_and_the_value(field, value, reason):
    with pytest.raises(CoercionError) as failure:
        coerce_row({"x": value}, [{"name": "x", **field}])
    assert str(failure.value) == reason


TABLE = [{"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
         {"name": "name", "type": "STRING", "description": "old"},
         {"name": "dims", "type": "RECORD", "fields": [{"name": "w", "type": "FLOAT"}]},
         {"name": "legacy", "type": "STRING"}]


def test_plan_adds_nullable_columns_relaxes_and_redescribes_keeping_old_columns():
    desired = [{"name": "id", "type": "INT64"},
               {"name": "name", "type": "STRING", "description": "new"},
               {"name": "dims", "type": "RECORD", "fields": [{"name": "w", "type": "FLOAT64"},
                                                              {"name": "h", "type": "FLOAT64"}]},
               {"name": "color", "type": "STRING"}]
    plan = plan_schema(TABLE, desired)
    assert plan.problems == []
    assert (plan.added, plan.relaxed, plan.described, plan.kept) == (
        ["dims.h", "color"], ["id"], ["name"], ["legacy"])
    assert [f["name"] for f in plan.schema] == ["id", "name", "dims", "legacy", "color"]
    assert [f["name"] for f in plan.schema[2]["fields"]] == ["w", "h"]


def test_plan_lists_every_change_bigquery_cannot_make_in_place():
    desired = [{"name": "id", "type": "STRING", "mode": "REQUIRED"},
               {"name": "name", "type": "STRING", "mode": "REPEATED"},
               {"name": "dims", "type": "RECORD", "fields": [{"name": "w", "type": "FLOAT64",
                                                              "mode": "REQUIRED"}]},
               {"name": "sku", "type": "STRING", "mode": "REQUIRED"}]
    table = [*TABLE[:3], {"name": "legacy", "type": "STRING", "mode": "REQUIRED"}]
    assert plan_schema(table, desired).problems == [
        "id: type INT64 in the table, STRING in the schema JSON; BigQuery cannot change it in place",
        "name: mode NULLABLE in the table, REPEATED in the schema JSON; only REQUIRED → NULLABLE "
        "can change in place",
        "dims.w: mode NULLABLE in the table, REQUIRED in the schema JSON; only REQUIRED → NULLABLE "
        "can change in place",
        "legacy: REQUIRED in the table but not in the schema JSON, so new rows could not be written; "
        "keep it, or relax it in BigQuery first",
        "sku: a new column cannot be REQUIRED (the existing rows have no value); add it as NULLABLE",
    ]


def _outcome(coerce, *args):
    """What a coercion gives: the value, or the error's type and message."""
    try:
        return coerce(*args)
    except Exception as exc:  # the very error is compared
        return type(exc), str(exc)


def _as_row(name: str, outcome):
    """A column's coerced value as the row holds it (NULL: no key); an error as it is."""
    return outcome if isinstance(outcome, tuple) else {} if outcome is None else {name: outcome}


def _tricky_timestamps(count: int) -> list:
    """Canonical instants, near misses and random mutations of them: the compiled fast path must
    give exactly what `to_timestamp` gives, canonical or not."""
    import random

    chance = random.Random(20260310)
    bases = ["2026-03-10T09:30:00Z", "2024-02-29T23:59:59Z", "2026-03-10T09:30:00.123456Z",
             "2026-03-10T09:30:00.1Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
    fixed = [*bases, "2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
             "0000-01-01T00:00:00Z", "2026-03-10T24:00:00Z", "2026-03-10T23:59:60Z",
             "2026-03-10T09:30:00.1234567Z", "2026-03-10T09:30:00.Z", "2026-03-10T09:30:00,5Z",
             "2026-03-10t09:30:00z", "2026-03-10 09:30:00Z", "2026-W11-2T09:30:00Z", "20260310T093000Z",
             "2026-03-10T09:30Z", " 2026-03-10T09:30:00Z", "2026-03-10T09:30:00Z\n", "٢٠٢٦-03-10T09:30:00Z",
             "2026-03-10T09:30:00+00:00", "", " ", "null", None, 1773135000, 1.7731350e9, True, {}, [],
             ["2026-03-10T09:30:00Z"], {"at": "2026-03-10T09:30:00Z"}]
    alphabet = "0123456789-:.,TtZz W+\n\x00٣"
    mutated = []
    for _ in range(count):
        text = list(chance.choice(bases))
        for _ in range(chance.randint(1, 2)):
            at = chance.randrange(len(text) + 1)
            action = chance.choice("sid")
            if action == "s" and at < len(text):
                text[at] = chance.choice(alphabet)
            elif action == "i":
                text.insert(at, chance.choice(alphabet))
            elif text and at < len(text):
                del text[at]
        mutated.append("".join(text))
    return fixed + mutated


@pytest.mark.parametrize("mode", ["NULLABLE", "REQUIRED"])
def test_the_compiled_timestamp_fast_path_gives_what_to_timestamp_gives(mode):
    from ingestion.rows.coerce import coerce_value, field_coercer, row_coercer, value_coercer

    field = {"name": "at", "type": "TIMESTAMP", "mode": mode}
    compiled, direct, full = row_coercer([field]), value_coercer(field), field_coercer(field)
    for value in _tricky_timestamps(5000):
        slow = _outcome(coerce_value, value, "at", direct, full)
        fast = _outcome(compiled, {"at": value})
        assert fast == _as_row("at", slow), value


@pytest.mark.parametrize("field", [
    {"name": "x", "type": "INT64"}, {"name": "x", "type": "FLOAT"}, {"name": "x", "type": "BOOL"},
    {"name": "x", "type": "STRING"}, {"name": "x", "type": "STRING", "mode": "REQUIRED"},
    {"name": "x", "type": "RECORD", "fields": [{"name": "y", "type": "INT64"},
                                              {"name": "at", "type": "TIMESTAMP"}]},
    {"name": "x", "type": "RECORD", "mode": "REQUIRED", "fields": [{"name": "y", "type": "INT64"}]},
])
def test_compiled_values_as_is_and_objects_give_what_coerce_value_gives(field):
    from ingestion.rows.coerce import MISSING, coerce_value, field_coercer, row_coercer, value_coercer

    compiled, direct, full = row_coercer([field]), value_coercer(field), field_coercer(field)
    values = [MISSING, None, 0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 1.5, -0.0, float("nan"),
              float("inf"), float("-inf"), True, False, "", " ", "null", "7", "1.0", "yes", "x", [1], [],
              {}, {"y": 1}, {"y": "2", "at": "2026-03-10 09:30:00"}, {"y": "q"}, {"Y": 3},
              {"y": 1, "at": "2026-02-30T00:00:00Z"}, {"y": None}, '{"y": 4}']
    for value in values:
        slow = _outcome(coerce_value, value, "x", direct, full)
        fast = _outcome(compiled, {} if value is MISSING else {"x": value})
        assert fast == _as_row("x", slow), value


def test_a_field_the_row_lacks_is_read_case_insensitively():
    fields = [{"name": "Updated_At", "type": "TIMESTAMP"}, {"name": "n", "type": "INT64"}]
    assert coerce_row({"updated_at": "2026-03-10 09:30:00", "N": "4"}, fields) == {
        "Updated_At": INSTANT, "n": 4}
