"""The benchmark's mock paginated API, run in a process of its own so that serving never competes
with the measured process for the GIL.

    python -m bench.api --records 100000 --page-size 100 --record-bytes 300 --latency-ms 0

Serves (header `X-API-Key` on every request; `--latency-ms` before every answer):

- `GET /v1/items?page=N&per_page=P`: `{"data": [...], "meta": {"total_pages": T}}`, so the page count
  is known from the first response; `/v1/items_stream` serves the same pages without `meta`, so a
  client must walk until a short or empty page. Every page is built once at start-up (records are a
  pure function of their index), so serving costs no more than a socket write, and every client
  sees the same bytes.
- `GET /v1/events?since=A&until=B&page=N&per_page=P` (`--events`): the events whose `updated_at`
  lies in [A, B) (ISO instants), paged, `{"data": [...]}` (a short page is the last); the events
  are spread evenly over `--event-days` days from 2026-01-01, so every hour holds some.
- report jobs (`--report-rows`): `POST /v1/reports` `{"account": "a-01"}` → `{"id": …, "status":
  "running"}`; `GET /v1/reports/<id>` answers `running` until `--job-seconds` after the creation,
  then `done`; `GET /v1/reports/<id>/rows?page=N&per_page=P` pages the report's rows with
  `meta.total_pages`.

Prints `port=<port>` when ready.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STATUSES = ("pending", "paid", "shipped", "delivered", "refunded")
CITIES = (("Lisbon", "PT"), ("Oslo", "NO"), ("Austin", "US"), ("Osaka", "JP"), ("Lagos", "NG"))
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# The schema the suite loads into (BigQuery `bq` format); dlt infers its own.
SCHEMA = [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "number", "type": "STRING"},
    {"name": "customer_id", "type": "INTEGER"},
    {"name": "status", "type": "STRING"},
    {"name": "channel", "type": "STRING"},
    {"name": "currency", "type": "STRING"},
    {"name": "subtotal", "type": "FLOAT"},
    {"name": "tax", "type": "FLOAT"},
    {"name": "total", "type": "FLOAT"},
    {"name": "items", "type": "INTEGER"},
    {"name": "paid", "type": "BOOLEAN"},
    {"name": "created_at", "type": "TIMESTAMP"},
    {"name": "updated_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "shipping", "type": "RECORD", "fields": [
        {"name": "city", "type": "STRING"}, {"name": "country", "type": "STRING"},
        {"name": "zip", "type": "STRING"}]},
    {"name": "note", "type": "STRING"},
]


def record(index: int, size: int) -> dict:
    """Order `index` (1-based): an e-commerce order as such APIs serve it, its `note` padding the
    JSON to about `size` bytes (~300 B needs no padding)."""
    at = EPOCH + timedelta(seconds=index * 7)
    subtotal = round(index % 100_000 / 7, 2)
    city, country = CITIES[index % len(CITIES)]
    item = {
        "id": index, "number": f"SO-{index:08d}", "customer_id": index % 9973 + 1,
        "status": STATUSES[index % len(STATUSES)], "channel": "web" if index % 4 else "store",
        "currency": "EUR", "subtotal": subtotal, "tax": round(subtotal * 0.2, 2),
        "total": round(subtotal * 1.2, 2), "items": index % 13 + 1, "paid": index % 3 != 0,
        "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": (at + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "shipping": {"city": city, "country": country, "zip": f"{index % 99991:05d}"}, "note": "",
    }
    pad = size - len(json.dumps(item, separators=(",", ":")))
    item["note"] = ("gift wrap, leave at the door " * (pad // 29 + 1))[:max(pad, 0)]
    return item


def build_pages(records: int, page_size: int, size: int) -> list[bytes]:
    """The `data` array of every page, as JSON text."""
    pages = []
    for first in range(1, records + 1, page_size):
        batch = [record(i, size) for i in range(first, min(first + page_size, records + 1))]
        pages.append(json.dumps(batch, separators=(",", ":")).encode())
    return pages


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Events:
    """`count` events spread evenly over `days` days: each an order whose `updated_at` is its
    instant, kept in time order as JSON text so that a window is a slice of a sorted list."""

    def __init__(self, count: int, days: float, size: int):
        step = timedelta(days=days) / max(count, 1)
        self.times, self.texts = [], []
        for index in range(1, count + 1):
            at = EPOCH + step * (index - 1)
            item = record(index, size)
            item["created_at"] = item["updated_at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.times.append(at)
            self.texts.append(json.dumps(item, separators=(",", ":")).encode())

    def page(self, since: datetime, until: datetime, page: int, per_page: int) -> bytes:
        first, last = bisect.bisect_left(self.times, since), bisect.bisect_left(self.times, until)
        start = first + (page - 1) * per_page
        chosen = self.texts[start:min(start + per_page, last)] if page >= 1 else []
        return b'{"data":[' + b",".join(chosen) + b"]}"


class Reports:
    """Report jobs: each ready `job_seconds` after its creation, then `rows` rows of its account."""

    def __init__(self, rows: int, job_seconds: float, size: int):
        self.rows, self.job_seconds, self.size = rows, job_seconds, size
        # every row encoded once, at start-up, its account spliced in per request: building the
        # rows per request cost the server more CPU than the suite spent reading them
        self.encoded = [json.dumps(record(i, size), separators=(",", ":")).encode()
                        for i in range(1, rows + 1)]
        self.jobs: dict[str, tuple[str, float]] = {}  # id → (account, created at)
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def create(self, account: str) -> bytes:
        with self.lock:
            job = f"job-{next(self.ids)}"
            self.jobs[job] = (account, time.monotonic())
        return json.dumps({"id": job, "status": "running"}).encode()

    def status(self, job: str) -> bytes | None:
        if job not in self.jobs:
            return None
        ready = time.monotonic() - self.jobs[job][1] >= self.job_seconds
        return json.dumps({"id": job, "status": "done" if ready else "running"}).encode()

    def page(self, job: str, page: int, per_page: int) -> bytes | None:
        if job not in self.jobs or time.monotonic() - self.jobs[job][1] < self.job_seconds or per_page < 1:
            return None
        account = b'{"account":' + json.dumps(self.jobs[job][0]).encode() + b","
        pages = -(-self.rows // per_page)
        first = (page - 1) * per_page + 1
        rows = [account + self.encoded[i - 1][1:]
                for i in range(max(first, 1), min(first + per_page, self.rows + 1))] if page >= 1 else []
        return b'{"data":[' + b",".join(rows) + b'],"meta":{"total_pages":' + str(pages).encode() + b"}}"


class BenchApi:
    def __init__(self, records: int, page_size: int, record_bytes: int, latency_s: float, key: str,
                 events: Events | None = None, reports: Reports | None = None):
        self.page_size, self.latency_s, self.key = page_size, latency_s, key
        self.pages = build_pages(records, page_size, record_bytes)
        self.events, self.reports = events, reports
        self.requests = 0

    def get(self, path: str, query: dict[str, str]) -> bytes | None:
        """The body of a GET, or None for a bad request."""
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 0))
        if path == "/v1/events" and self.events is not None:
            return self.events.page(instant(query["since"]), instant(query["until"]), page, per_page)
        parts = path.split("/")  # "", "v1", "reports", id[, "rows"]
        if len(parts) in (4, 5) and parts[2] == "reports" and self.reports is not None:
            if len(parts) == 4:
                return self.reports.status(parts[3])
            return self.reports.page(parts[3], page, per_page) if parts[4] == "rows" else None
        return self.body(path, page, per_page)

    def body(self, path: str, page: int, per_page: int) -> bytes | None:
        if path not in ("/v1/items", "/v1/items_stream") or per_page != self.page_size:
            return None
        data = self.pages[page - 1] if 1 <= page <= len(self.pages) else b"[]"
        if path == "/v1/items_stream":
            return b'{"data":' + data + b"}"
        return b'{"data":' + data + b',"meta":{"total_pages":%d}}' % len(self.pages)


def handler_for(api: BenchApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs and every client here use
        disable_nagle_algorithm = True  # else a keep-alive reply can wait ~40 ms for a delayed ACK

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self.answer(lambda: api.get(url.path, query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if urlsplit(self.path).path != "/v1/reports" or api.reports is None:
                return self.answer(lambda: None)
            self.answer(lambda: api.reports.create(str(body.get("account"))))

        def answer(self, make_body) -> None:
            api.requests += 1
            if self.headers.get("X-API-Key") != api.key:
                return self.reply(401, b'{"error":"bad key"}')
            try:
                body = make_body()
            except (KeyError, ValueError):
                body = None
            if api.latency_s:
                time.sleep(api.latency_s)
            if body is None:
                return self.reply(400, b'{"error":"unknown path, job or page size"}')
            return self.reply(200, body)

        def reply(self, status: int, body: bytes) -> None:
            head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            self.wfile.write(head.encode() + body)  # one write: one segment, no Nagle stall

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--record-bytes", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--key", default="bench-key")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", type=int, default=0, help="events served by /v1/events (0: none)")
    parser.add_argument("--event-days", type=float, default=25)
    parser.add_argument("--report-rows", type=int, default=0, help="rows of each report job (0: no jobs)")
    parser.add_argument("--job-seconds", type=float, default=2)
    args = parser.parse_args(argv)
    events = Events(args.events, args.event_days, args.record_bytes) if args.events else None
    reports = Reports(args.report_rows, args.job_seconds, args.record_bytes) if args.report_rows else None
    api = BenchApi(args.records, args.page_size, args.record_bytes, args.latency_ms / 1000, args.key,
                   events, reports)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(api))
    server.daemon_threads = True
    print(f"port={server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
