"""The fetcher on its own: an entity pointed at a local HTTP server (pytest-httpserver), and every
page of its walk through the production fetcher and a real session."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from ingestion.contract.config import EntityConfig, deep_merge
from ingestion.contract.schema import entity_schema
from ingestion.contract.sections import Choice, with_defaults
from ingestion.model import Slice, Window
from ingestion.source.auth import AUTHENTICATORS
from ingestion.source.credentials import AuthContext
from ingestion.source.extract import extract_pages
from ingestion.source.fetch import Fetcher, open_session
from local.stack import serve_in_thread
from tests.support.configs import ENTITY, SCHEMA

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC))


def make_entity(httpserver, **overrides):
    base = {**ENTITY, "date_filter": None, "base_url": httpserver.url_for("/api"),
            "start_date": "2026-01-01", "target": {**ENTITY["target"], "dataset": "acme"},
            "http": {"max_retries": 3, "backoff_factor": 0},
            "pagination": {"type": "page_number", "page_param": "page", "size_param": "limit",
                           "page_size": 2}}
    spec = deep_merge(base, overrides)
    if "type" in overrides.get("pagination", {}):  # another style: its own settings only
        spec["pagination"] = overrides["pagination"]
    spec["pagination"] = {k: v for k, v in spec["pagination"].items() if v is not None}
    spec = {k: v for k, v in spec.items() if v is not None}
    return EntityConfig.parse("acme/items", spec, SCHEMA)


def extract(entity, auth_spec=None, secret=None, windows=(WINDOW,), items=(None,)):
    """Every page of the entity's walk, through the production fetcher and a real session."""
    auth = Choice.parse(with_defaults({"auth": auth_spec or {"type": "none"}}, entity_schema())["auth"])
    with open_session(entity.http) as session:
        ctx = AuthContext("local-project", secret or {}, session=session, base_url=entity.base_url)
        auth = AUTHENTICATORS.build(auth.type, ctx, **auth.options)
        fetcher = Fetcher(entity.source, entity.http, entity.records, session, auth, entity.response_actions)
        slices = [Slice(item, window) for item in items for window in windows]
        return list(extract_pages(entity, slices, fetcher))


def ids(pages) -> list[int]:
    return [r["id"] for p in pages for r in p.records]


def page_of(first: int, count: int) -> list[dict]:
    return [{"id": i} for i in range(first, first + count)]


class SlowPages:
    """A threaded API (pytest-httpserver answers one at a time) of `pages` one-record pages, each
    answered after `seconds` (or `slow[page]`), page count in `meta.pages`; `peak` is the most
    requests it had in flight at once, `overlapping[page]` how many requests began while a page of
    `slow` was being answered. Use as a context manager; `url` is its base URL."""

    def __init__(self, pages: int, seconds: float = 0.05, slow: dict[int, float] | None = None):
        self.pages, self.seconds, self.peak, self.in_flight = pages, seconds, 0, 0
        self.slow, self.overlapping, self.answering = slow or {}, dict.fromkeys(slow or {}, 0), set()
        self.lock = threading.Lock()

    def __enter__(self) -> SlowPages:
        self.served = serve_in_thread(self.handler)
        self.url = self.served.url
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.served.stop()

    @Request.application
    def handler(self, request: Request) -> Response:
        page = int(request.args["page"])
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            for slow in self.answering:
                self.overlapping[slow] += 1
            if page in self.slow:
                self.answering.add(page)
        time.sleep(self.slow.get(page, self.seconds))
        with self.lock:
            self.in_flight -= 1
            self.answering.discard(page)
        return Response(json.dumps({"data": [{"id": page}], "meta": {"pages": self.pages}}),
                        content_type="application/json")
