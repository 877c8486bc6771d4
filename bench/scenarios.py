"""What the bench runs against: the mock API's shape, the process serving it, and the entity configs a
team would write for it (items paged; hourly windows of events; one report job per fan-out item).

    items    `/v1/items`: `records` records at `page_size` per page, page count known (or not)
    windows  `/v1/events?since=…&until=…`: `windows` one-hour windows over 25 days, one request each,
             `incremental_window` over exactly those hours (`date_filter.step` PT1H)
    reports  `fan_out.items` of `report_items` accounts, each an `async_job` (POST, polled until done
             `job_seconds` after its creation), its rows read in `report_pages` pages
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.api import SCHEMA

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-api"
EVENTS_START = datetime(2026, 1, 1, tzinfo=UTC)  # bench/api.py's EPOCH: the events start there
EVENT_DAYS = 25
EVENTS_PER_WINDOW = 20  # so that each window is one short page: one request
REPORT_ROWS, REPORT_PAGE_SIZE = 200, 100  # two result pages per report
# The report entity's poll interval: first poll when a job is expected to be ready (a team sets it to
# its reports' usual time), doubling after. One poll per job, as the target's ideal counts: polling
# from 0.25 s (doubling to 0.5 s) makes five polls a job, 250 requests that the eight in flight must
# carry while the pages wait (5.3-5.7 s end to end, against 4.88 s allowed).
POLL_FIRST_S, POLL_MAX_S = 2.0, 4.0


@dataclass(frozen=True)
class Shape:
    """The API and how the suite reads it."""

    records: int
    page_size: int
    record_bytes: int
    latency_ms: float
    known_page_count: bool
    concurrency: int

    @property
    def pages(self) -> int:
        return -(-self.records // self.page_size)

    @property
    def path(self) -> str:
        return "/v1/items" if self.known_page_count else "/v1/items_stream"


@dataclass(frozen=True)
class Windows:
    """`count` one-hour windows over the 25 days of events, `latency_ms` per request."""

    count: int
    latency_ms: float
    concurrency: int

    @property
    def events(self) -> int:
        return self.count * EVENTS_PER_WINDOW

    @property
    def start(self) -> datetime:
        return EVENTS_START

    @property
    def end(self) -> datetime:
        return EVENTS_START + timedelta(hours=self.count)

    @property
    def event_days(self) -> float:
        """The events' spread: 25 days at 600 windows (so each hour holds some, as in the issue)."""
        return self.count / 24

    def bound_s(self) -> float:
        """The target: 1.5 × windows × latency / concurrency + 2 s."""
        return 1.5 * self.count * self.latency_ms / 1000 / self.concurrency + 2


@dataclass(frozen=True)
class Reports:
    """`items` fan-out items, each a report job ready `job_seconds` after its creation."""

    items: int
    latency_ms: float
    concurrency: int
    job_seconds: float = 2

    @property
    def rows(self) -> int:
        return self.items * REPORT_ROWS

    @property
    def requests_per_item(self) -> int:
        """Create, one poll (when it is done), the result pages: what the ideal client sends."""
        return 2 + -(-REPORT_ROWS // REPORT_PAGE_SIZE)

    def ideal_s(self) -> float:
        """All jobs overlapped: the job's wait once, plus every request's latency at the concurrency."""
        requests = self.items * self.requests_per_item
        return self.job_seconds + requests * self.latency_ms / 1000 / self.concurrency

    def bound_s(self) -> float:
        return 1.5 * self.ideal_s()


@contextmanager
def mock_api(key: str, records: int = 0, page_size: int = 100, record_bytes: int = 300,
             latency_ms: float = 0, events: int = 0, event_days: float = EVENT_DAYS,
             report_rows: int = 0, job_seconds: float = 2):
    """bench/api.py in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--records", str(records), "--page-size", str(page_size),
         "--record-bytes", str(record_bytes), "--latency-ms", str(latency_ms), f"--key={key}",
         "--events", str(events), "--event-days", str(event_days), "--report-rows", str(report_rows),
         "--job-seconds", str(job_seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("port="):
            raise RuntimeError(f"the mock API did not start (exit code {proc.poll()})")
        yield f"http://127.0.0.1:{line.strip().removeprefix('port=')}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def items_api(shape: Shape, key: str):
    return mock_api(key, shape.records, shape.page_size, shape.record_bytes, shape.latency_ms)


def windows_api(windows: Windows, key: str):
    return mock_api(key, latency_ms=windows.latency_ms, events=windows.events,
                    event_days=windows.event_days)


def reports_api(reports: Reports, key: str):
    return mock_api(key, latency_ms=reports.latency_ms, report_rows=REPORT_ROWS,
                    job_seconds=reports.job_seconds)


def write_source(folder: Path, dataset: str, concurrency: int, **extra) -> None:
    (folder / "config/bench").mkdir(parents=True)
    (folder / "schema/bench").mkdir(parents=True)
    source = {"base_url": "${BENCH_API_URL}", "start_date": "2026-01-01",
              "auth": {"type": "api_key", "in": "header", "name": "X-API-Key", "secret": SECRET,
                       "value_key": "api_key"},
              "http": {"max_concurrency": concurrency}, "target": {"dataset": dataset}, **extra}
    (folder / "config/bench/_source.json").write_text(json.dumps(source, indent=2))


def write_entity(folder: Path, name: str, entity: dict, schema: list[dict]) -> None:
    (folder / f"config/bench/{name}.json").write_text(json.dumps(entity, indent=2))
    (folder / f"schema/bench/{name}.json").write_text(json.dumps(schema, indent=2))


def items_entity(folder: Path, shape: Shape, dataset: str) -> str:
    """config/bench/items.json: how a team would describe the paged API."""
    write_source(folder, dataset, shape.concurrency)
    pagination = {"type": "page_number", "page_param": "page", "size_param": "per_page",
                  "page_size": shape.page_size}
    if shape.known_page_count:
        pagination["total_pages_path"] = "meta.total_pages"
    write_entity(folder, "items", {"request": {"path": shape.path}, "records": {"path": "data"},
                                   "pagination": pagination, "cursor_field": "updated_at",
                                   "merge_keys": ["id"], "target": {"table": "items"}}, SCHEMA)
    return "bench/items"


def windows_entity(folder: Path, windows: Windows, dataset: str) -> str:
    """config/bench/events.json: an hourly-filtered endpoint read one hour at a time."""
    write_source(folder, dataset, windows.concurrency)
    write_entity(folder, "events", {
        "request": {"path": "/v1/events"}, "records": {"path": "data"},
        "pagination": {"type": "page_number", "page_param": "page", "size_param": "per_page",
                       "page_size": 100},
        "date_filter": {"start_param": "since", "end_param": "until", "format": "iso_datetime_z",
                        "step": "PT1H", "align": True},
        "cursor_field": "updated_at", "merge_keys": ["id"], "target": {"table": "events"}}, SCHEMA)
    return "bench/events"


def reports_entity(folder: Path, reports: Reports, dataset: str) -> str:
    """config/bench/reports.json: one report job per account (`fan_out.items`), results paged.
    Every job may be in flight at once where the suite has the setting (`max_jobs_in_flight`)."""
    items = [f"a-{n:03d}" for n in range(1, reports.items + 1)]
    write_source(folder, dataset, reports.concurrency, fan_out={"items": items, "column": "account"})
    job = {"create": {"path": "/v1/reports", "body": {"account": "{item}"}}, "job_id_path": "id",
           "poll": {"path": "/v1/reports/{job_id}"}, "status_path": "status", "done_values": ["done"],
           "failed_values": ["failed"], "poll_interval_seconds": POLL_FIRST_S,
           "max_poll_interval_seconds": POLL_MAX_S, "timeout_seconds": 120}
    if "max_jobs_in_flight" in async_job_settings():
        job["max_jobs_in_flight"] = reports.items
    write_entity(folder, "reports", {
        "request": {"path": "/v1/reports/{job_id}/rows"}, "records": {"path": "data"},
        "pagination": {"type": "page_number", "page_param": "page", "size_param": "per_page",
                       "page_size": REPORT_PAGE_SIZE, "total_pages_path": "meta.total_pages"},
        "async_job": job, "cursor_field": "updated_at", "merge_keys": ["account", "id"],
        "target": {"table": "reports"}}, [{"name": "account", "type": "STRING", "mode": "REQUIRED"}, *SCHEMA])
    return "bench/reports"


def async_job_settings() -> set[str]:
    schema = json.loads((ROOT / "ingestion/contract/schemas/entity.schema.json").read_text())
    return set(schema["$defs"]["async_job"]["properties"])
