"""Send requests for one entity: credentials, rate limit, timeouts, one refresh after a 401, and
parsing into an `ApiResponse`. Also fetches a known list of pages concurrently, in order."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from ingestion.contract.sections import HttpSpec, RecordsSpec
from ingestion.model import ApiResponse
from ingestion.source.auth import Authenticator, refused
from ingestion.source.httprequest import HttpRequest
from ingestion.source.records import parse_json, read_page
from utils import requests_api
from utils.requests_api import HttpStatusError


class RateLimiter:
    """At most `per_second` request starts per second, shared by every thread of the process that
    calls the same source (this cannot coordinate separate function instances)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(source: str, per_second: float | None) -> RateLimiter | None:
    if not per_second:
        return None
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((source, per_second), RateLimiter(per_second))


def open_session(http: HttpSpec) -> requests.Session:
    return requests_api.new_session(
        max_retries=http.max_retries, backoff_factor=http.backoff_factor,
        pool_size=max(10, http.max_concurrency), max_wait=http.max_retry_wait_seconds,
    )


class Fetcher:
    def __init__(self, source: str, http: HttpSpec, records: RecordsSpec, session: requests.Session,
                 auth: Authenticator):
        self.http, self.records, self.session, self.auth = http, records, session, auth
        self.timeout = http.timeouts
        self.empty_statuses = http.empty_statuses
        self.concurrency = http.max_concurrency
        self.limiter = limiter_for(source, http.requests_per_second)

    def send(self, request: HttpRequest) -> requests.Response:
        """The response to `request`, with credentials added to a copy only (never to anything
        stored or logged). A 401 gets one credential refresh and one more try; a 401/403 to that
        try is a permanent `AuthError` naming the secret."""
        for attempt in (1, 2):
            sent = request.copy()
            self.auth.apply(sent)
            if self.limiter:
                self.limiter.wait()
            try:
                return requests_api.send(
                    self.session, sent.method, sent.url, params=sent.params, json=sent.json,
                    headers=sent.headers, timeout=self.timeout, secret_params=self.auth.secret_params,
                    ok_statuses=self.empty_statuses)
            except HttpStatusError as exc:
                if attempt == 2 and exc.status in (401, 403):
                    raise refused(self.auth, exc) from None
                if exc.status != 401 or attempt == 2 or not self.auth.refresh():
                    raise
        raise AssertionError("unreachable")

    def redacted(self, resp: requests.Response) -> str:
        return requests_api.redact_url(resp.url, self.auth.secret_params)

    def json(self, request: HttpRequest) -> Any:
        """A plain JSON call (a report job's create or status request)."""
        resp = self.send(request)
        return parse_json(resp.content, self.redacted(resp))

    def page(self, request: HttpRequest) -> ApiResponse:
        resp = self.send(request)
        url = self.redacted(resp)
        body, records = read_page(resp.content, resp.status_code, self.records,
                                  self.empty_statuses, url)
        links = {rel: link["url"] for rel, link in resp.links.items() if "url" in link}
        return ApiResponse(url, resp.status_code, resp.content, body, records, links)

    def pages(self, requests_: Iterable[HttpRequest]) -> Iterator[ApiResponse]:
        """Fetch `requests_` with up to `max_concurrency` in flight, yielding in request order:
        at most that many responses are held in memory at once."""
        if self.concurrency <= 1:
            yield from map(self.page, requests_)
            return
        pending: deque[Future] = deque()
        todo = iter(requests_)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fetch")
        try:
            for request in todo:
                pending.append(pool.submit(self.page, request))
                if len(pending) >= self.concurrency:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
