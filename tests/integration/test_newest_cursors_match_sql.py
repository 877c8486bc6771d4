"""The newest cursors found while staging are what `MAX(cursor) … GROUP BY item` over the loaded
staging rows gives (the query they replace), for every cursor type a config may use."""

from __future__ import annotations

import json

import pytest

from ingestion.rows.cursor import NewestCursors
from utils import bq_helper, gcs_helper

COLUMNS = {"ts": "TIMESTAMP", "dt": "DATETIME", "d": "DATE", "n": "INT64", "s": "STRING"}
PAGES = [
    [{"acct": "a", "ts": "2026-03-01T10:00:07Z", "dt": "2026-03-01 10:00:07", "d": "2026-03-01", "n": 9,
      "s": "b-9"},
     {"acct": "a", "ts": "2026-03-01T10:00:07.5Z", "dt": "2026-03-01 10:00:07.500000", "d": "2026-02-28",
      "n": 10, "s": "b-10"}],
    [{"acct": "b", "ts": "2026-03-01T10:00:07.000001Z", "dt": "2026-03-01 10:00:07.000001", "d": "2026-12-31",
      "n": -3, "s": "é"},
     {"acct": "a", "ts": "2026-03-01T10:00:07.25Z", "dt": None, "d": None, "n": None, "s": None}],
    [{"acct": None, "ts": "1999-12-31T23:59:59.999999Z", "dt": "1999-12-31 23:59:59.999999",
      "d": "1999-12-31", "n": 0, "s": ""},
     {"acct": "b", "ts": "2026-03-01T10:00:06.999999Z", "dt": "2026-03-01 10:00:08", "d": "2026-12-30",
      "n": 4, "s": "z"}],
]


@pytest.mark.parametrize("column", list(COLUMNS))
def test_the_staged_newest_equals_the_max_bigquery_reads_from_the_staged_rows(env, stack, column):
    table = f"{stack.project}.newest_{env.suffix}.staged"
    bq_helper.ensure_dataset(stack.project, f"newest_{env.suffix}", "US")
    fields = [{"name": "acct", "type": "STRING"}, *({"name": c, "type": t} for c, t in COLUMNS.items())]
    bq_helper.create_table(table, bq_helper.schema_from_json(fields))
    lines = "".join(json.dumps(row) + "\n" for rows in PAGES for row in rows)
    gcs_helper.upload(env.settings.bucket, "staged/part-000001.jsonl", lines.encode(), "application/x-ndjson")
    bq_helper.load_ndjson_from_gcs([gcs_helper.uri(env.settings.bucket, "staged/part-000001.jsonl")], table,
                                   bq_helper.schema_from_json(fields))

    found = NewestCursors(column, COLUMNS[column], "acct")
    for rows in PAGES:
        found.add(rows)

    sql = f"SELECT CAST(acct AS STRING) AS item, MAX({column}) AS m FROM `{table}` GROUP BY 1"
    expected = {row.item: row.m for row in bq_helper.query(sql).result() if row.m is not None}
    assert found.found == {item: as_position(value) for item, value in expected.items()}
    assert len(found.found) == 3


def as_position(value):
    """BigQuery's value as a watermark position: a time as an aware instant, else as it is."""
    from datetime import UTC, date, datetime

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value
