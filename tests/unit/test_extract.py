"""Pagination, date filters, auth and HTTP failure handling against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from werkzeug.wrappers import Response

from ingestion.contract.errors import ApiError
from ingestion.model import Slice, Window
from ingestion.run.decide import is_retryable
from ingestion.source.auth import AUTHENTICATORS
from ingestion.source.credentials import AuthContext
from ingestion.source.extract import extract_pages
from ingestion.source.fetch import Fetcher, open_session
from tests.support.extraction import WINDOW, extract, ids, make_entity, page_of
from utils.requests_api import HttpStatusError


def test_page_number_stops_at_total_pages(httpserver):
    for page in (1, 2, 3):
        httpserver.expect_ordered_request("/api/items", query_string={"page": str(page), "limit": "2"}) \
            .respond_with_json({"data": page_of(page * 10, 2), "meta": {"pages": 3}})
    entity = make_entity(httpserver, pagination={"total_pages_path": "meta.pages"})

    pages = extract(entity)

    assert ids(pages) == [10, 11, 20, 21, 30, 31]
    assert [p.number for p in pages] == [1, 2, 3]
    assert len(httpserver.log) == 3


def test_page_number_stops_at_total_count(httpserver):
    for page, count in ((1, 2), (2, 2), (3, 1)):
        httpserver.expect_ordered_request("/api/items", query_string={"page": str(page), "limit": "2"}) \
            .respond_with_json({"data": page_of(page * 10, count), "total": 5})
    entity = make_entity(httpserver, pagination={"total_count_path": "total"})
    assert ids(extract(entity)) == [10, 11, 20, 21, 30]
    assert len(httpserver.log) == 3


def test_page_number_stops_on_a_short_page_without_asking_for_more(httpserver):
    for page, count in ((1, 2), (2, 1)):
        httpserver.expect_ordered_request("/api/items", query_string={"page": str(page), "limit": "2"}) \
            .respond_with_json({"data": page_of(page * 10, count)})
    entity = make_entity(httpserver)
    assert ids(extract(entity)) == [10, 11, 20]
    assert len(httpserver.log) == 2


def test_page_number_without_page_size_stops_on_an_empty_page(httpserver):
    for page, count in ((0, 3), (1, 3), (2, 0)):
        httpserver.expect_ordered_request("/api/items", query_string={"p": str(page)}) \
            .respond_with_json({"data": page_of(page * 10, count)})
    entity = make_entity(httpserver, pagination={"type": "page_number", "page_param": "p",
                                                 "start_page": 0, "page_size": None,
                                                 "size_param": None})
    assert ids(extract(entity)) == [0, 1, 2, 10, 11, 12]


def test_paging_and_date_filter_in_a_post_body(httpserver):
    for page in (1, 2):
        httpserver.expect_ordered_request("/api/query", method="POST", json={
            "kind": "conversations", "pageNumber": page, "pageSize": 2,
            "from": 1772323200000, "to": 1772452800000,
        }).respond_with_json({"entities": page_of(page * 10, 2), "pageCount": 2})
    entity = make_entity(
        httpserver,
        request={"path": "/query", "method": "POST", "body": {"kind": "conversations"}},
        records={"path": "entities"},
        pagination={"type": "page_number", "page_param": "pageNumber", "size_param": "pageSize",
                    "page_size": 2, "in": "body", "total_pages_path": "pageCount"},
        date_filter={"start_param": "from", "end_param": "to", "format": "epoch_ms", "in": "body"},
    )
    assert ids(extract(entity)) == [10, 11, 20, 21]


@pytest.mark.parametrize("fmt, extra, start, end", [
    ("iso_date", {}, "2026-03-01", "2026-03-02"),
    ("iso_datetime", {}, "2026-03-01T00:00:00+00:00", "2026-03-02T12:00:00+00:00"),
    ("iso_datetime_z", {}, "2026-03-01T00:00:00Z", "2026-03-02T12:00:00Z"),
    ("epoch_s", {}, "1772323200", "1772452800"),
    ("strftime", {"strftime": "%Y%m%dT%H"}, "20260301T00", "20260302T12"),
])
def test_date_filter_formats_reach_the_api(httpserver, fmt, extra, start, end):
    httpserver.expect_request("/api/items", query_string={"from": start, "to": end}) \
        .respond_with_json([{"id": 1}])
    entity = make_entity(httpserver, records={"path": ""}, pagination={"type": "single"},
                         date_filter={"start_param": "from", "end_param": "to", "format": fmt, **extra})
    assert ids(extract(entity)) == [1]


def test_one_request_set_per_window(httpserver):
    httpserver.expect_request("/api/items").respond_with_json([{"id": 1}])
    windows = [Window(datetime(2026, 3, d, tzinfo=UTC), datetime(2026, 3, d + 1, tzinfo=UTC))
               for d in (1, 2, 3)]
    entity = make_entity(httpserver, records={"path": ""}, pagination={"type": "single"},
                         date_filter={"start_param": "day", "format": "iso_date"})
    pages = extract(entity, windows=windows)
    assert [req.args["day"] for req, _ in httpserver.log] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [p.window for p in pages] == windows


@pytest.mark.parametrize("auth_spec, secret, header, value", [
    ({"type": "api_key", "secret": "s", "name": "X-Api-Key"}, {"api_key": "k1"}, "X-Api-Key", "k1"),
    ({"type": "api_key", "secret": "s", "name": "Authorization", "prefix": "Token ",
      "value_key": "key"}, {"key": "k2"}, "Authorization", "Token k2"),
    ({"type": "bearer", "secret": "s"}, {"token": "t1"}, "Authorization", "Bearer t1"),
    ({"type": "basic", "secret": "s"}, {"username": "u", "password": "p"}, "Authorization",
     "Basic " + base64.b64encode(b"u:p").decode()),
])
def test_authenticators_send_credentials(httpserver, auth_spec, secret, header, value):
    httpserver.expect_request("/api/items", headers={header: value}).respond_with_json({"data": []})
    pages = extract(make_entity(httpserver, pagination={"type": "single"}), auth_spec, secret)
    assert len(pages) == 1 and pages[0].records == []


def test_api_key_in_query_is_redacted_from_urls_and_errors(httpserver):
    httpserver.expect_request("/api/items", query_string={"page": "1", "limit": "2", "key": "sekrit"}) \
        .respond_with_json({"error": "no such account"}, status=404)
    entity = make_entity(httpserver)
    with pytest.raises(HttpStatusError) as error:
        extract(entity, {"type": "api_key", "secret": "s", "name": "key", "in": "query"},
                {"api_key": "sekrit"})
    assert not is_retryable(error.value)  # a 404 will not fix itself
    assert error.value.status == 404
    message = str(error.value)
    assert "sekrit" not in message and "key=REDACTED" in message and "no such account" in message


def test_transient_failures_are_retried_then_succeed(httpserver):
    httpserver.expect_ordered_request("/api/items").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/api/items").respond_with_data("slow down", status=429)
    httpserver.expect_ordered_request("/api/items").respond_with_json({"data": [{"id": 7}]})
    entity = make_entity(httpserver, pagination={"type": "single"})
    assert ids(extract(entity)) == [7]
    assert len(httpserver.log) == 3


def test_persistent_server_errors_are_retryable_after_the_bounded_retries(httpserver):
    httpserver.expect_request("/api/items").respond_with_data("down", status=502)
    entity = make_entity(httpserver, pagination={"type": "single"})
    with pytest.raises(HttpStatusError) as error:
        extract(entity)
    assert is_retryable(error.value) and error.value.status == 502
    assert len(httpserver.log) == 4  # the first try + max_retries=3


@pytest.mark.parametrize("response, message", [
    (Response("<html>oops</html>", status=200, content_type="text/html"),
     "is not valid JSON: '<html>oops</html>'"),
    (Response(json.dumps({"results": []}), content_type="application/json"),
     "record path 'data' not found"),
])
def test_unusable_responses_are_clear_errors_never_empty_results(httpserver, response, message):
    httpserver.expect_request("/api/items").respond_with_response(response)
    with pytest.raises(ApiError) as error:
        extract(make_entity(httpserver, pagination={"type": "single"}))
    assert message in str(error.value) and not is_retryable(error.value)


NO_DATA = {"response_actions": [{"text_contains": "no data for", "action": "ignore"}]}


def extract_acting(entity) -> list:
    """Every page of the walk, through the production fetcher with the entity's response actions."""
    with open_session(entity.http) as session:
        auth = AUTHENTICATORS.build("none", AuthContext("local-project", {}, session=session))
        fetcher = Fetcher(entity.source, entity.http, entity.records, session, auth, entity.response_actions)
        return list(extract_pages(entity, [Slice(None, WINDOW)], fetcher))


def test_an_ignored_page_ends_a_walk_whose_page_count_is_known(httpserver):
    """The pages after an ignored one (an `ignore` response action) are not loaded, although the
    first page said there were four."""
    httpserver.expect_ordered_request("/api/items", query_string={"page": "1", "limit": "2"}) \
        .respond_with_json({"data": page_of(10, 2), "meta": {"pages": 4}})
    httpserver.expect_ordered_request("/api/items", query_string={"page": "2", "limit": "2"}) \
        .respond_with_json({"message": "no data for this page"})
    httpserver.expect_request("/api/items").respond_with_json({"data": page_of(90, 2), "meta": {"pages": 4}})
    entity = make_entity(httpserver, **NO_DATA, http={"max_concurrency": 1},
                         pagination={"total_pages_path": "meta.pages"})
    pages = extract_acting(entity)
    assert ids(pages) == [10, 11] and [p.records for p in pages[1:]] == [[]]
    assert len(httpserver.log) == 2


def test_an_ignored_page_ends_the_walk_whatever_its_headers_say(httpserver):
    base = httpserver.url_for("/api/items")
    httpserver.expect_ordered_request("/api/items").respond_with_json(
        page_of(1, 2), headers={"Link": f'<{base}?page=2>; rel="next"'})
    httpserver.expect_ordered_request("/api/items", query_string={"page": "2"}).respond_with_data(
        "no data for page 2", status=200, headers={"Link": f'<{base}?page=3>; rel="next"'})
    httpserver.expect_request("/api/items").respond_with_json(page_of(90, 2))
    entity = make_entity(httpserver, **NO_DATA, records={"path": ""},
                         pagination={"type": "link_header", "page_param": None, "size_param": None,
                                     "page_size": None})
    assert ids(extract_acting(entity)) == [1, 2]
    assert len(httpserver.log) == 2
