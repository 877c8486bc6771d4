"""Adaptive throttling from rate-limit headers: what a response's headers say is left (a pure
function), and against a server on 127.0.0.1 that allows so many requests per second and answers
429 beyond them — the run slows down before the 429, alone and with pages fetched concurrently."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.errors import RetryableError
from ingestion.run.decide import is_retryable
from ingestion.source import ratelimit
from ingestion.source.ratelimit import Quota, read_quota
from tests.support.extraction import extract, ids, make_entity
from utils.requests_api import HttpStatusError

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def fresh_budgets(monkeypatch):
    """Budgets live for the process (a warm instance keeps what the API said): one per test here."""
    monkeypatch.setattr(ratelimit, "_BUDGETS", {})


@pytest.mark.parametrize("headers,quota", [
    ({"x-ratelimit-remaining": "4999", "x-ratelimit-reset": str(int(NOW) + 42)}, Quota(4999, 42.0)),  # GitHub
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}, Quota(0, 30.0)),  # seconds from now
    ({"x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(NOW + 5) * 1000)}, Quota(3, 5.0)),  # ms
    ({"x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(NOW) - 10)}, Quota(3, 0.0)),  # passed
    ({"x-rate-limit-remaining": "7", "x-rate-limit-reset": "9"}, Quota(7, 9.0)),
    ({"ratelimit-remaining": "10", "ratelimit-reset": "60"}, Quota(10, 60.0)),  # IETF draft -06
    ({"ratelimit": '"default";r=50;t=30'}, Quota(50, 30.0)),  # IETF draft -07 on
    ({"ratelimit": '"burst";r=5;t=1, "daily";r=0;t=3600'}, Quota(0, 3600.0)),  # the tightest policy
    ({"ratelimit": '"default";r=999;pk=:dHJpYWwxMjEzMjM=:'}, Quota(999, None)),  # no reset given
    ({"ratelimit": "limit=100, remaining=50, reset=30"}, Quota(50, 30.0)),  # older drafts
    ({"x-ratelimit-remaining": "80", "x-ratelimit-reset": "10", "ratelimit": '"d";r=2;t=4'}, Quota(2, 4.0)),
    ({"x-ratelimit-remaining": "many", "x-ratelimit-reset": "soon"}, None),  # malformed: ignored
    ({"ratelimit": "garbage"}, None),
    ({"content-type": "application/json"}, None),
])
def test_what_the_headers_say_is_left(headers, quota):
    assert read_quota(headers, NOW) == quota


def test_an_instant_is_read_against_the_responses_date_not_the_local_clock():
    date = format_datetime(datetime.fromtimestamp(NOW, UTC), usegmt=True)  # a server clock in the past
    headers = {"date": date, "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)}
    assert read_quota(headers) == Quota(0, 42.0)


class QuotaApi:
    """`pages` pages of one record; at most `per_second` requests per whole epoch second, reported
    GitHub-style (`X-RateLimit-Remaining`, `X-RateLimit-Reset` in epoch seconds) or IETF-style
    (`RateLimit: "default";r=…;t=…`); any request beyond is answered 429."""

    def __init__(self, per_second: int, style: str = "github", pages: int = 6):
        self.per_second, self.style, self.pages = per_second, style, pages
        self.used: dict[int, int] = {}
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        now = time.time()
        with self.lock:
            used = self.used[int(now)] = self.used.get(int(now), 0) + 1
            status = 200 if used <= self.per_second else 429
            self.statuses.append(status)
        left, reset = max(0, self.per_second - used), int(now) + 1
        headers = ({"X-RateLimit-Limit": str(self.per_second), "X-RateLimit-Remaining": str(left),
                    "X-RateLimit-Reset": str(reset)} if self.style == "github"
                   else {"RateLimit": f'"default";r={left};t={math.ceil(reset - now)}'})
        page = int(request.args["page"])
        body = f'{{"data": [{{"id": {page}}}], "meta": {{"pages": {self.pages}}}}}'
        return Response(body if status == 200 else "rate limited", status, headers,
                        content_type="application/json")


def quota_entity(httpserver, api: QuotaApi, **http):
    httpserver.expect_request("/api/items").respond_with_handler(api)
    return make_entity(httpserver, http={"max_retries": 0, **http},  # a 429 would end the run
                       pagination={"total_pages_path": "meta.pages", "page_size": 1})


@pytest.mark.parametrize("style,concurrency,reserve", [("github", 1, 1), ("ietf", 1, 1), ("github", 3, 0)])
def test_the_run_slows_down_before_the_api_answers_429(httpserver, style, concurrency, reserve):
    api = QuotaApi(per_second=3, style=style)
    pages = extract(quota_entity(httpserver, api, max_concurrency=concurrency, rate_limit_reserve=reserve))
    assert ids(pages) == [1, 2, 3, 4, 5, 6]
    assert 429 not in api.statuses and len(api.statuses) == 6
    first = pages[0].response.headers  # the page's headers, names lower-cased, for paginators too
    assert "x-ratelimit-remaining" in first or "ratelimit" in first


def test_without_rate_limit_headers_the_same_run_meets_the_429(httpserver):
    api = QuotaApi(per_second=3)
    with pytest.raises(HttpStatusError, match="HTTP 429"):
        extract(quota_entity(httpserver, api, rate_limit_headers=False))


def test_the_wait_is_the_reset_the_headers_name(httpserver, mocker):
    slept = mocker.patch("ingestion.source.ratelimit.time.sleep")
    httpserver.expect_ordered_request("/api/items").respond_with_json(
        {"data": [{"id": 1}, {"id": 2}]}, headers={"RateLimit": '"default";r=1;t=30'})
    httpserver.expect_ordered_request("/api/items").respond_with_json({"data": []})
    assert ids(extract(make_entity(httpserver))) == [1, 2]
    (delay,), _ = slept.call_args
    assert 29 < delay <= 30  # 1 left is the default reserve: wait the 30 s the server named


def test_a_reset_beyond_the_wait_budget_fails_retryable_without_sending(httpserver):
    reset = str(int(time.time()) + 3600)  # GitHub's hourly window
    httpserver.expect_request("/api/items").respond_with_json(
        {"data": [{"id": 1}, {"id": 2}]}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    with pytest.raises(RetryableError) as error:
        extract(make_entity(httpserver, http={"max_retry_wait_seconds": 60}))
    assert is_retryable(error.value) and len(httpserver.log) == 1
    assert "/api/items" in str(error.value) and "max_retry_wait_seconds (60 s)" in str(error.value)
