"""The benchmark's mock paginated API, run in a process of its own so that serving never competes
with the measured process for the GIL.

    python -m bench.api --records 100000 --page-size 100 --record-bytes 300 --latency-ms 0

Serves `GET /v1/items?page=N&per_page=P` (header `X-API-Key`): `{"data": [...], "meta":
{"total_pages": T}}`, so the page count is known from the first response; `/v1/items_stream` serves
the same pages without `meta`, so a client must walk until a short or empty page. Every page is
built once at start-up (records are a pure function of their index), so serving costs no more
than a socket write, and every client sees the same bytes. Prints `port=<port>` when ready.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
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


class BenchApi:
    def __init__(self, records: int, page_size: int, record_bytes: int, latency_s: float, key: str):
        self.page_size, self.latency_s, self.key = page_size, latency_s, key
        self.pages = build_pages(records, page_size, record_bytes)
        self.requests = 0

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
            api.requests += 1
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if self.headers.get("X-API-Key") != api.key:
                return self.reply(401, b'{"error":"bad key"}')
            try:
                body = api.body(url.path, int(query.get("page", 1)), int(query.get("per_page", 0)))
            except ValueError:
                body = None
            if body is None:
                return self.reply(400, b'{"error":"unknown path or page size"}')
            if api.latency_s:
                time.sleep(api.latency_s)
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
    args = parser.parse_args(argv)
    api = BenchApi(args.records, args.page_size, args.record_bytes, args.latency_ms / 1000, args.key)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(api))
    server.daemon_threads = True
    print(f"port={server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
