"""Every pagination style against a real HTTP server on 127.0.0.1, through the production fetcher."""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.errors import ApiError
from tests.support.extraction import SlowPages, extract, ids, make_entity, page_of


def expect(server, query: dict | None = None):
    return server.expect_ordered_request("/api/items", query_string=query)


def test_offset_limit_stops_at_the_total_count(httpserver):
    for offset, count in ((0, 2), (2, 2), (4, 1)):
        expect(httpserver, {"offset": str(offset), "limit": "2"}) \
            .respond_with_json({"data": page_of(offset, count), "total": 5})
    entity = make_entity(httpserver, pagination={
        "type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 2,
        "total_count_path": "total", "page_param": None, "size_param": None})
    assert ids(extract(entity)) == [0, 1, 2, 3, 4]
    assert len(httpserver.log) == 3


def test_jira_style_start_limit_walks_until_is_last_page(httpserver):
    pages = [([1, 2, 3], False), ([4, 5, 6], False), ([7], True)]
    for index, (values, last) in enumerate(pages):
        expect(httpserver, {"start": str(index * 3), "limit": "3"}) \
            .respond_with_json({"start": index * 3, "limit": 3, "size": len(values), "isLastPage": last,
                                "values": [{"id": v} for v in values]})
    entity = make_entity(httpserver, records={"path": "values"}, pagination={
        "type": "offset", "offset_param": "start", "limit_param": "limit", "page_size": 3,
        "is_last_path": "isLastPage", "page_param": None, "size_param": None})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5, 6, 7]
    assert len(httpserver.log) == 3


def test_cursor_token_from_the_body_until_it_is_absent(httpserver):
    expect(httpserver, {"size": "2"}) \
        .respond_with_json({"items": page_of(1, 2), "next": "abc"})
    expect(httpserver, {"size": "2", "after": "abc"}) \
        .respond_with_json({"items": page_of(3, 2), "next": "def"})
    expect(httpserver, {"size": "2", "after": "def"}) \
        .respond_with_json({"items": page_of(5, 1), "next": None})
    entity = make_entity(httpserver, records={"path": "items"}, pagination={
        "type": "cursor", "cursor_path": "next", "cursor_param": "after", "size_param": "size",
        "page_size": 2, "page_param": None})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5]


def test_cursor_that_repeats_stops_instead_of_looping(httpserver):
    httpserver.expect_request("/api/items").respond_with_json({"items": page_of(1, 1), "next": "same"})
    entity = make_entity(httpserver, records={"path": "items"}, pagination={
        "type": "cursor", "cursor_path": "next", "cursor_param": "after", "page_param": None,
        "size_param": None, "page_size": None})
    assert ids(extract(entity)) == [1, 1]
    assert len(httpserver.log) == 2


def test_has_more_flag_ends_a_cursor_walk(httpserver):
    expect(httpserver).respond_with_json(
        {"data": page_of(1, 2), "has_more": True, "cursor": "c2"})
    expect(httpserver, {"starting_after": "c2"}).respond_with_json(
        {"data": page_of(3, 1), "has_more": False, "cursor": "c3"})
    entity = make_entity(httpserver, pagination={
        "type": "cursor", "cursor_path": "cursor", "cursor_param": "starting_after",
        "has_more_path": "has_more", "page_param": None, "size_param": None, "page_size": None})
    assert ids(extract(entity)) == [1, 2, 3]
    assert len(httpserver.log) == 2


def test_next_url_from_the_body_relative_or_absolute(httpserver):
    expect(httpserver, {"q": "x"}).respond_with_json(
        {"results": page_of(1, 2), "paging": {"next": "/api/items?cursor=p2&q=x"}})
    expect(httpserver, {"cursor": "p2", "q": "x"}).respond_with_json(
        {"results": page_of(3, 2), "paging": {"next": httpserver.url_for("/api/items?cursor=p3&q=x")}})
    expect(httpserver, {"cursor": "p3", "q": "x"}).respond_with_json(
        {"results": page_of(5, 1), "paging": {}})
    entity = make_entity(httpserver, request={"params": {"q": "x"}}, records={"path": "results"},
                         pagination={"type": "next_url", "next_url_path": "paging.next",
                                     "page_param": None, "size_param": None, "page_size": None})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5]


def test_rfc8288_link_header_like_github(httpserver):
    base = httpserver.url_for("/api/items")
    last, first = f'<{base}?page=3>; rel="last"', f'<{base}?page=1>; rel="first"'
    expect(httpserver, {"per_page": "2"}).respond_with_json(
        page_of(1, 2), headers={"Link": f'<{base}?per_page=2&page=2>; rel="next", {last}'})
    expect(httpserver, {"per_page": "2", "page": "2"}).respond_with_json(
        page_of(3, 2), headers={"Link": f'<{base}?per_page=2&page=3>; rel="next", {first}'})
    expect(httpserver, {"per_page": "2", "page": "3"}).respond_with_json(
        page_of(5, 1), headers={"Link": first})
    entity = make_entity(httpserver, request={"params": {"per_page": 2}}, records={"path": ""},
                         pagination={"type": "link_header", "page_param": None, "size_param": None,
                                     "page_size": None})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5]


def test_genesys_style_paging_nested_in_a_post_body_with_an_interval(httpserver):
    for page in (1, 2):
        httpserver.expect_ordered_request("/api/query", method="POST", json={
            "interval": "2026-03-01T00:00:00Z/2026-03-02T12:00:00Z", "order": "asc",
            "paging": {"pageSize": 2, "pageNumber": page},
        }).respond_with_json({"conversations": page_of(page * 10, 2), "totalHits": 4})
    entity = make_entity(
        httpserver,
        request={"path": "/query", "method": "POST", "body": {"interval": "{start}/{end}", "order": "asc"}},
        records={"path": "conversations"},
        pagination={"type": "page_number", "page_param": "paging.pageNumber", "size_param": "paging.pageSize",
                    "page_size": 2, "in": "body", "total_count_path": "totalHits"},
        date_filter={"format": "iso_datetime_z"},
    )
    assert ids(extract(entity)) == [10, 11, 20, 21]


def test_known_page_count_fetches_pages_concurrently_in_order(httpserver):
    """With the total known after page 1, pages 2..N are in flight together (up to the limit)."""
    with SlowPages(9) as api:
        entity = make_entity(httpserver, base_url=api.url, http={"max_concurrency": 4}, pagination={
            "total_pages_path": "meta.pages", "page_size": 1})
        pages = extract(entity)
    assert ids(pages) == list(range(1, 10))  # in page order whatever the completion order
    assert [p.number for p in pages] == list(range(1, 10))
    assert 2 <= api.peak <= 4


def test_max_pages_is_a_safety_stop(httpserver):
    def endless(request: Request) -> Response:
        page = int(request.args["page"])
        return Response(json.dumps({"data": page_of(page * 10, 2)}), content_type="application/json")

    httpserver.expect_request("/api/items").respond_with_handler(endless)
    entity = make_entity(httpserver, pagination={"max_pages": 3})
    assert ids(extract(entity)) == [10, 11, 20, 21, 30, 31]


def test_stripe_style_cursor_from_the_last_record_and_has_more(httpserver):
    expect(httpserver, {"limit": "2"}).respond_with_json(
        {"data": [{"id": 1}, {"id": 2}], "has_more": True})
    expect(httpserver, {"limit": "2", "starting_after": "2"}).respond_with_json(
        {"data": [{"id": 3}, {"id": 4}], "has_more": True})
    expect(httpserver, {"limit": "2", "starting_after": "4"}).respond_with_json(
        {"data": [{"id": 5}], "has_more": False})
    entity = make_entity(httpserver, pagination={
        "type": "cursor", "last_record_path": "id", "cursor_param": "starting_after",
        "has_more_path": "has_more", "size_param": "limit", "page_size": 2, "page_param": None})
    assert ids(extract(entity)) == [1, 2, 3, 4, 5]


def test_an_empty_answer_without_its_total_ends_the_walk_and_a_full_one_without_it_is_an_error(
        httpserver):
    """GA4 leaves out `rowCount` (and `rows`) for an empty report."""
    offset = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 2,
              "total_count_path": "rowCount", "page_param": None, "size_param": None}
    expect(httpserver, {"offset": "0", "limit": "2"}).respond_with_json({"kind": "report"})
    entity = make_entity(httpserver, records={"path": "rows", "allow_missing": True}, pagination=offset)
    assert ids(extract(entity)) == [] and len(httpserver.log) == 1

    httpserver.clear()
    expect(httpserver, {"offset": "0", "limit": "2"}).respond_with_json({"rows": page_of(1, 2)})
    with pytest.raises(ApiError, match="total_count_path path 'rowCount' not found"):
        extract(entity)


def test_gitlab_style_next_page_header_until_it_is_empty(httpserver):
    """GitLab sends the next page number in X-Next-Page, empty on the last page; header names are
    case-insensitive."""
    for page, following in ((None, "2"), ("2", "3"), ("3", "")):
        expect(httpserver, {"per_page": "2", **({"page": page} if page else {})}).respond_with_json(
            page_of(int(page or 1) * 10, 2), headers={"X-Next-Page": following, "X-Page": page or "1"})
    entity = make_entity(httpserver, request={"params": {"per_page": 2}}, records={"path": ""}, pagination={
        "type": "cursor", "cursor_header": "x-next-page", "cursor_param": "page"})
    assert ids(extract(entity)) == [10, 11, 20, 21, 30, 31]
    assert len(httpserver.log) == 3


def test_total_pages_header_ends_the_walk_on_a_full_last_page(httpserver):
    for page in (1, 2, 3):
        expect(httpserver, {"page": str(page), "limit": "2"}).respond_with_json(
            {"data": page_of(page * 10, 2)}, headers={"X-Total-Pages": "3", "X-Total": "6"})
    entity = make_entity(httpserver, pagination={"total_pages_header": "X-Total-Pages"})
    assert ids(extract(entity)) == [10, 11, 20, 21, 30, 31]
    assert len(httpserver.log) == 3  # no 4th request: the header said 3


def test_gitlab_leaves_out_its_totals_above_10000_records_and_the_walk_goes_on_to_a_short_page(httpserver):
    for page, count in ((1, 2), (2, 2), (3, 1)):
        expect(httpserver, {"page": str(page), "limit": "2"}).respond_with_json(
            {"data": page_of(page * 10, count)}, headers={"X-Next-Page": "" if count < 2 else str(page + 1)})
    entity = make_entity(httpserver, pagination={"total_count_header": "X-Total"})
    assert ids(extract(entity)) == [10, 11, 20, 21, 30]


def test_offset_total_count_header(httpserver):
    for offset in (0, 2, 4):
        expect(httpserver, {"offset": str(offset), "limit": "2"}).respond_with_json(
            {"data": page_of(offset, 2)}, headers={"x-total-count": "6"})
    entity = make_entity(httpserver, pagination={
        "type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 2,
        "total_count_header": "X-Total-Count"})
    assert ids(extract(entity)) == [0, 1, 2, 3, 4, 5]
    assert len(httpserver.log) == 3


def test_next_url_from_a_response_header(httpserver):
    expect(httpserver).respond_with_json({"data": page_of(1, 2)}, headers={"X-Next-Url": "/api/items?c=2"})
    expect(httpserver, {"c": "2"}).respond_with_json({"data": page_of(3, 1)})
    entity = make_entity(httpserver, pagination={"type": "next_url", "next_url_header": "x-next-url"})
    assert ids(extract(entity)) == [1, 2, 3]


def test_a_total_header_that_is_not_a_number_is_an_error(httpserver):
    expect(httpserver).respond_with_json({"data": page_of(1, 2)}, headers={"X-Total-Pages": "many"})
    entity = make_entity(httpserver, pagination={"total_pages_header": "X-Total-Pages"})
    with pytest.raises(ApiError, match="header X-Total-Pages is 'many', not a number"):
        extract(entity)


def test_a_server_ignoring_the_page_parameter_fails_clearly_instead_of_looping(httpserver):
    httpserver.expect_request("/api/items").respond_with_json({"data": page_of(1, 2), "page": 1})
    entity = make_entity(httpserver, pagination={"page_param": "pageNo"})  # the API reads `page`
    with pytest.raises(ApiError, match=r"page 2 returned the same records as page 1: the API seems to "
                                       r"ignore `pageNo` \(check pagination.page_param and `in`\)"):
        extract(entity)
    assert len(httpserver.log) == 2


def test_a_server_ignoring_the_offset_fails_clearly_in_the_concurrent_walk(httpserver):
    httpserver.expect_request("/api/query", method="POST").respond_with_json(
        {"rows": page_of(1, 2), "total": 10})
    entity = make_entity(httpserver, http={"max_concurrency": 4}, records={"path": "rows"},
                         request={"path": "/query", "method": "POST"}, pagination={
        "type": "offset", "offset_param": "start", "limit_param": "limit", "page_size": 2,
        "total_count_path": "total"})  # the API reads its paging from the body, not the query string
    with pytest.raises(ApiError, match="page 2 returned the same records as page 1: the API seems to "
                                       "ignore `start`"):
        extract(entity)
