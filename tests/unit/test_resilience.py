"""Retries, Retry-After, the total wait bound, timeouts, rate limit and 'no data' statuses, against
real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.run.decide import is_retryable
from local.stack import serve_in_thread
from tests.support.extraction import extract, ids, make_entity
from utils.requests_api import HttpStatusError, TransportError

SINGLE = {"type": "single"}


@pytest.mark.parametrize("retry_after", ["2", "http-date"])
def test_retry_after_is_honoured_in_seconds_or_as_an_http_date(httpserver, mocker, retry_after):
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    httpserver.expect_ordered_request("/api/items").respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after})
    httpserver.expect_ordered_request("/api/items").respond_with_json({"data": [{"id": 1}]})
    slept = mocker.patch("utils.requests_api.time.sleep")  # observe the wait instead of waiting

    assert ids(extract(make_entity(httpserver, pagination=SINGLE))) == [1]

    (delay,), _ = slept.call_args
    assert 1 <= delay <= 3  # the server's wish, not the (zero) backoff of the test config


def test_a_retry_after_beyond_the_wait_budget_fails_fast_and_retryable(httpserver):
    httpserver.expect_request("/api/items").respond_with_data(
        "come back in an hour", status=503, headers={"Retry-After": "3600"})
    entity = make_entity(httpserver, pagination=SINGLE, http={"max_retry_wait_seconds": 30})
    with pytest.raises(TransportError) as error:
        extract(entity)
    assert is_retryable(error.value)  # Pub/Sub redelivers later instead of the function hanging
    assert "budget 30 s" in str(error.value)
    assert len(httpserver.log) == 1


def test_read_timeouts_are_retried(httpserver):
    calls = []

    @Request.application
    def slow_then_fast(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)
        return Response('{"data": [{"id": 9}]}', content_type="application/json")

    served = serve_in_thread(slow_then_fast)
    try:
        entity = make_entity(httpserver, base_url=served.url, pagination=SINGLE,
                             http={"read_timeout_seconds": 0.3})
        assert ids(extract(entity)) == [9]
    finally:
        served.stop()
    assert len(calls) == 2


def test_client_errors_fail_fast_with_status_url_and_body_excerpt(httpserver):
    httpserver.expect_request("/api/items").respond_with_json(
        {"message": "field 'updated_since' is invalid"}, status=422)
    with pytest.raises(HttpStatusError) as error:
        extract(make_entity(httpserver, pagination=SINGLE))
    assert not is_retryable(error.value)
    assert len(httpserver.log) == 1  # no retries for a 4xx
    message = str(error.value)
    assert "HTTP 422" in message and "/api/items" in message and "updated_since' is invalid" in message


def test_a_401_without_credentials_to_refresh_is_permanent(httpserver):
    httpserver.expect_request("/api/items").respond_with_data("bad token", status=401)
    with pytest.raises(HttpStatusError) as error:
        extract(make_entity(httpserver, pagination=SINGLE), {"type": "none"})
    assert error.value.status == 401 and not is_retryable(error.value)
    assert len(httpserver.log) == 1


def test_configured_empty_statuses_mean_no_data(httpserver):
    httpserver.expect_request("/api/items").respond_with_data("Raw data files were not found.", status=404)
    pages = extract(make_entity(httpserver, pagination=SINGLE, http={"empty_statuses": [404]}))
    assert len(pages) == 1 and pages[0].records == [] and pages[0].response.status == 404


def test_rate_limit_spaces_requests(httpserver):
    arrivals, lock = [], threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            arrivals.append(time.monotonic())
        page = int(request.args["page"])
        return Response(f'{{"data": [{{"id": {page}}}], "meta": {{"pages": 6}}}}',
                        content_type="application/json")

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    entity = make_entity(httpserver, http={"requests_per_second": 10, "max_concurrency": 3},
                         pagination={"total_pages_path": "meta.pages", "page_size": 1})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5, 6]
    # 10 requests/second even with 3 in flight: 6 request starts span at least 5 intervals. The
    # server sees arrivals, not starts: the first pays for opening the connection (measured up to
    # ~1 ms late on a loaded machine), so the span may fall short of 0.5 s by that much, never by
    # a whole interval. (Single gaps are not checked: a busy machine can delay one arrival into its
    # successor's.)
    assert arrivals[-1] - arrivals[0] >= 0.5 - 0.05


def test_conflicts_with_concurrent_writers_are_redelivered_other_bad_requests_are_not():
    from google.api_core import exceptions as gexc

    from ingestion.contract.errors import LeaseHeld

    assert is_retryable(gexc.BadRequest(
        "Could not serialize access to table p:d.t due to concurrent update"))  # concurrent MERGEs
    assert is_retryable(gexc.PreconditionFailed("etag mismatch"))  # a table patched meanwhile
    assert is_retryable(LeaseHeld("run r1 is working on that window"))
    assert not is_retryable(gexc.BadRequest("Syntax error: Unexpected keyword MERGE"))
