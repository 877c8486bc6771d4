"""Send requests for one entity: credentials, rate limits, timeouts, one refresh after a 401, the
entity's response actions (ingestion/source/actions.py), and parsing into an `ApiResponse`. Also
fetches a known list of pages concurrently, in order. However many threads use one fetcher (the
pages of a walk, the slices read ahead), at most `http.max_concurrency` requests are in flight."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

import requests

from ingestion.contract.sections import HttpSpec, RecordsSpec, ResponseAction
from ingestion.model import ApiResponse
from ingestion.source.actions import RESEND, Answer, Attempts, decide, make_actions
from ingestion.source.auth import Authenticator, refused
from ingestion.source.httprequest import HttpRequest
from ingestion.source.inflight import Window
from ingestion.source.ratelimit import budget_for, limiter_for
from ingestion.source.records import parse_json, read_page
from utils import requests_api
from utils.requests_api import HttpStatusError


def open_session(http: HttpSpec) -> requests.Session:
    return requests_api.new_session(
        max_retries=http.max_retries, backoff_factor=http.backoff_factor,
        pool_size=max(10, http.max_concurrency), max_wait=http.max_retry_wait_seconds,
    )


class Fetcher:
    def __init__(self, source: str, http: HttpSpec, records: RecordsSpec, session: requests.Session,
                 auth: Authenticator, actions: Sequence[ResponseAction] = ()):
        self.source, self.http, self.records, self.session, self.auth = source, http, records, session, auth
        self.timeout = http.timeouts
        self.empty_statuses = http.empty_statuses
        self.concurrency = http.max_concurrency
        self.in_flight = threading.BoundedSemaphore(http.max_concurrency)  # shared by copies
        self.limiter = limiter_for(source, http.requests_per_second)
        self.actions = make_actions(actions)

    def answer(self, request: HttpRequest) -> tuple[requests.Response, bool]:
        """The final response to `request`, and whether an `ignore` action took it. The response
        actions see every answer first (a rule may resend, fail or ignore it); without one, a
        401 gets one credential refresh and one more try, and a 401/403 after a refresh is a
        permanent `AuthError` naming the secret. Credentials go on a copy only (never on
        anything stored or logged)."""
        attempts = Attempts(self.http, self.auth)
        while True:
            resp, error = self.exchange(request)
            if self.actions:
                answer = Answer(resp.status_code, resp.content, resp.headers, self.redacted(resp))
                action = decide(self.actions, answer)
                if action is not None:
                    if action.take(answer, attempts) == RESEND:
                        continue
                    return resp, True
            if error is None:
                return resp, False
            if error.status == 401 and not attempts.refreshed and self.auth.refresh():
                attempts.refreshed = True
                continue
            if attempts.refreshed and error.status in (401, 403):
                raise refused(self.auth, error) from None
            raise error

    def exchange(self, request: HttpRequest) -> tuple[requests.Response, HttpStatusError | None]:
        """One request through the session's retries and the source's rate limits: the response,
        and the error its status is (None for a 2xx or an `empty_statuses` answer)."""
        sent = request.copy()
        self.auth.apply(sent)
        if self.limiter:
            self.limiter.wait()
        budget = budget_for(self.source, urlsplit(sent.url).netloc, self.http.rate_limit_reserve) \
            if self.http.rate_limit_headers else None
        if budget:
            budget.start(self.http.max_retry_wait_seconds,
                         lambda: requests_api.redact_url(sent.url, self.auth.secret_params))
        resp = None
        try:
            with self.in_flight:
                resp = requests_api.send(
                    self.session, sent.method, sent.url, params=sent.params, json=sent.json,
                    headers=sent.headers, timeout=self.timeout, secret_params=self.auth.secret_params,
                    ok_statuses=self.empty_statuses)
            return resp, None
        except HttpStatusError as exc:
            if exc.response is None:
                raise
            resp = exc.response
            return resp, exc
        finally:
            if budget:
                budget.done(resp.headers if resp is not None else None)

    def redacted(self, resp: requests.Response) -> str:
        return requests_api.redact_url(resp.url, self.auth.secret_params)

    def json(self, request: HttpRequest) -> Any:
        """A plain JSON call (a report job's create or status request); None when ignored."""
        resp, ignored = self.answer(request)
        return None if ignored else parse_json(resp.content, self.redacted(resp))

    def page(self, request: HttpRequest) -> ApiResponse:
        """One page; an ignored answer is an empty page that ends the walk (`final`)."""
        resp, ignored = self.answer(request)
        url = self.redacted(resp)
        body, records = (None, []) if ignored else read_page(
            resp.content, resp.status_code, self.records, self.empty_statuses, url)
        links = {rel: link["url"] for rel, link in resp.links.items() if "url" in link}
        headers = {name.lower(): value for name, value in resp.headers.items()}
        return ApiResponse(url, resp.status_code, resp.content, body, records, links, headers, ignored)

    def pages(self, requests_: Iterable[HttpRequest]) -> Iterator[ApiResponse]:
        """Fetch `requests_` with up to `max_concurrency` in flight, as many as make the walk
        faster (ingestion/source/inflight.py), yielding in request order. A request is sent as
        soon as one of the window's finishes, not when the page at the head is taken: pages
        answer out of order, and one slow answer at the head would otherwise idle every slot
        behind it. At most two windows of responses are held in memory at once."""
        if self.concurrency <= 1:
            yield from map(self.page, requests_)
            return
        requests_ = iter(requests_)
        pending: deque[Future] = deque()
        window = Window(self.concurrency)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fetch")

        def fill() -> None:
            if window.size == 1:  # a window of 1 drains, then fetches in this thread
                return
            sending = sum(not future.done() for future in pending)
            while sending < window.size and len(pending) < 2 * window.size \
                    and (request := next(requests_, None)) is not None:
                pending.append(pool.submit(self.page, request))
                sending += 1

        try:
            while True:
                if window.size == 1 and not pending:  # in this thread: no hand-over per page
                    if (request := next(requests_, None)) is None:
                        return
                    yield self.page(request)
                    window.took()
                    continue
                fill()
                if not pending:
                    return
                while not pending[0].done():
                    wait([future for future in pending if not future.done()], return_when=FIRST_COMPLETED)
                    fill()
                page = pending.popleft().result()
                fill()
                yield page
                window.took()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
