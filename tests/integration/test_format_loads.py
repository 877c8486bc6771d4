"""One load into BigQuery (bqemulator) per response format: the same report served as CSV, as a
gzipped TSV (App Store Connect's `application/a-gzip`), as XML and as GA4-style rows described by
headers. Every value arrives as text and lands typed; a replay from the raw pages gives the same."""

from __future__ import annotations

import gzip
import html
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.payload import SyncRequest
from ingestion.run.pipeline import run_sync
from tests.support.apis import NOW, SimApi
from utils import bq_helper, gcs_helper

COLUMNS = ["id", "name", "amount", "active", "updated_at", "day"]
REPORT = [  # as the API writes it: text only
    ["1", "Smith, Jane", "12.50", "yes", "2026-03-01T10:00:00Z", "2026-03-01"],
    ["2", 'The "Best" App', "-3", "0", "1772445600", ""],
    ["3", "Ünïcode", "1e2", "TRUE", "2026-03-03 08:30:00+01:00", "2026-03-03"],
]
LOADED = {  # what BigQuery holds afterwards
    1: ("Smith, Jane", Decimal("12.5"), True, datetime(2026, 3, 1, 10, tzinfo=UTC), date(2026, 3, 1)),
    2: ('The "Best" App', Decimal("-3"), False, datetime(2026, 3, 2, 10, tzinfo=UTC), None),
    3: ("Ünïcode", Decimal("100"), True, datetime(2026, 3, 3, 7, 30, tzinfo=UTC), date(2026, 3, 3)),
}
SCHEMA = [
    {"name": "id", "type": "INT64", "mode": "REQUIRED"},
    {"name": "name", "type": "STRING"},
    {"name": "amount", "type": "NUMERIC"},
    {"name": "active", "type": "BOOL"},
    {"name": "updated_at", "type": "TIMESTAMP"},
    {"name": "day", "type": "DATE"},
]


def csv_text(delimiter: str, quote) -> str:
    lines = [COLUMNS, *REPORT]
    return "".join(delimiter.join(quote(v) for v in line) + "\r\n" for line in lines)


def as_xml() -> str:
    rows = "".join(
        f'<r:row id="{row[0]}">' + "".join(
            f"<r:{name}>{html.escape(value)}</r:{name}>" if value else f"<r:{name}/>"
            for name, value in zip(COLUMNS[1:], row[1:], strict=True)) + "</r:row>\n"
        for row in REPORT)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<r:report xmlns:r="urn:example:report">\n'
            f"{rows}</r:report>\n")


def as_ga4() -> dict:
    return {"dimensionHeaders": [{"name": n} for n in COLUMNS[:2] + COLUMNS[4:]],
            "metricHeaders": [{"name": "amount", "type": "TYPE_CURRENCY"}, {"name": "active"}],
            "rows": [{"dimensionValues": [{"value": v} for v in row[:2] + row[4:]],
                      "metricValues": [{"value": v} for v in row[2:4]]} for row in REPORT],
            "rowCount": len(REPORT), "kind": "analyticsData#runReport"}


class ReportApi(SimApi):
    """The same report in every format, at /report.<format>."""

    def route(self, request: Request) -> Response:
        kind = request.path.rsplit(".", 1)[-1]
        if kind == "csv":
            quoted = csv_text(",", lambda v: '"' + v.replace('"', '""') + '"' if any(
                c in v for c in ',"\n') else v)
            return Response(quoted, content_type="text/csv; charset=utf-8")
        if kind == "tsv":  # a gzip file, not a Content-Encoding
            return Response(gzip.compress(csv_text("\t", str).encode()), content_type="application/a-gzip")
        if kind == "xml":
            return Response(as_xml(), content_type="application/xml")
        return Response(json.dumps(as_ga4()), content_type="application/json")


RECORDS = {
    "csv": {"path": "", "format": "csv"},
    "tsv": {"path": "", "format": "tsv", "compression": "gzip"},
    "xml": {"path": "report.row", "format": "xml", "fields": {"id": "@id"}},
    "ga4": {"path": "rows", "allow_missing": True,
            "columns": {"names": ["dimensionHeaders[*].name", "metricHeaders[*].name"],
                        "values": ["dimensionValues[*].value", "metricValues[*].value"]}},
}


@pytest.mark.parametrize("kind", list(RECORDS))
def test_text_values_of_each_format_load_as_typed_columns(env, serve, kind):
    serve(ReportApi(), "REPORT_API_URL")
    dataset = f"formats_{env.suffix}"
    env.write(f"reports/{kind}", {
        "base_url": "${REPORT_API_URL}", "start_date": "2026-03-01", "merge_keys": ["id"],
        "cursor_field": "updated_at", "request": {"path": f"/report.{kind}"}, "records": RECORDS[kind],
        "pagination": {"type": "single"}, "target": {"dataset": dataset}, "http": {"max_retries": 1}}, SCHEMA)

    run = run_sync(SyncRequest(f"reports/{kind}", "incremental"), env.settings, now=NOW)

    assert (run.status, run.records, run.rejected, run.unknown_fields) == ("succeeded", 3, 0, None)
    assert loaded(env, dataset, kind) == LOADED
    raw = gcs_helper.list_paths(env.settings.bucket, f"raw/reports/{kind}/")
    assert [p.rsplit(".", 1)[-1] for p in raw] == [{"tsv": "gz", "ga4": "json"}.get(kind, kind)]

    replay = run_sync(SyncRequest(f"reports/{kind}", "replay"), env.settings, now=NOW)

    assert (replay.status, replay.records, replay.rejected) == ("succeeded", 3, 0)
    assert loaded(env, dataset, kind) == LOADED


def loaded(env, dataset: str, table: str) -> dict[int, tuple]:
    result = bq_helper.query(f"SELECT * FROM `{env.settings.project}.{dataset}.{table}`").result()
    return {r["id"]: (r["name"], r["amount"], r["active"], r["updated_at"], r["day"]) for r in result}
