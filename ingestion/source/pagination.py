"""Paginators: one small class per style, chosen by the config's `pagination.type`.

A paginator sets up the first request, then sees each response and returns the next request, or
None when the walk is over. When the page count is known after the first response, `remaining`
returns every further request at once so they can be fetched concurrently. Each class is built
from the config's `pagination` settings as named arguments (schema defaults already applied) and
registers itself under its `type` (see ingestion/contract/registry.py).

What a paginator reads comes from the body (`*_path`) or from a response header (`*_header`; names
are case-insensitive, ApiResponse.headers holds them lower-cased). A response marked `final` (an
`ignore` response action) ends the walk whatever it says.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urljoin

from ingestion.contract.errors import ApiError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.contract.registry import Registry
from ingestion.contract.sections import Choice
from ingestion.model import ApiResponse
from ingestion.source.httprequest import HttpRequest

PAGINATORS = Registry("paginator")


def header(response: ApiResponse, name: str) -> str | None:
    """Header names are case-insensitive (RFC 9110): ApiResponse.headers holds them lower-cased."""
    return response.headers.get(name.lower())


class Paginator:
    """Base: the walk's bookkeeping, flags that end it, and the page-count helpers."""

    type: str
    page_setting: str | None = None  # the setting naming the parameter that moves through the pages

    def __init__(self, *, max_pages: int | None = None, location: str | None = None,
                 is_last_path: str | None = None, has_more_path: str | None = None):
        self.location, self.max_pages = location, max_pages
        self.is_last_path, self.has_more_path = is_last_path, has_more_path
        self.pages_seen = 0
        self.pages_checked, self.last_records = 0, None

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        PAGINATORS.add(cls)

    def first(self, request: HttpRequest) -> HttpRequest:
        return request

    def next(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        self.pages_seen += 1
        self.check_repeat(response)
        if response.final or (self.max_pages and self.pages_seen >= self.max_pages):
            return None
        return None if self._flag_says_done(response.body) else self.advance(request, response)

    def check_repeat(self, response: ApiResponse) -> None:
        """Called once per page, in page order (`next` does; so does the concurrent walk). A server
        that ignores the page parameter answers every request with the same records: without this
        the walk would load them again and again, up to max_pages."""
        if self.page_setting is None:
            return
        self.pages_checked += 1
        # The previous page itself, not a digest of it: list equality stops at the first record that
        # differs, so a page costs one record's comparison (hashing a page cost ~0.1 ms), and a
        # repeat is told exactly. Records are never changed after parsing, so the old page is as read.
        if response.records and response.records == self.last_records:
            number, param = self.pages_checked, getattr(self, self.page_setting)
            raise ApiError(f"pagination: {response.url}: page {number} returned the same records as page "
                           f"{number - 1}: the API seems to ignore `{param}` (check pagination."
                           f"{self.page_setting} and `in`)")
        self.last_records = response.records

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        return None

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        """Every request after the first when the total is known from the first response."""
        return None

    @staticmethod
    def _read(body: Any, setting: str, path: str | None, default: Any = None) -> Any:
        if path is None:
            return default
        try:
            return dig(body, path)
        except PathNotFound as exc:
            raise ApiError(f"pagination: {setting} {exc}") from None

    def _flag_says_done(self, body: Any) -> bool:
        """`is_last_path` true, or `has_more_path` false, ends the walk (Jira's isLastPage)."""
        if self._read(body, "is_last_path", self.is_last_path, False) is True:
            return True
        return self.has_more_path is not None and not self._read(body, "has_more_path", self.has_more_path)

    @property
    def _flagged(self) -> bool:
        return self.is_last_path is not None or self.has_more_path is not None

    def _total(self, response: ApiResponse, setting: str, path: str | None,
               header_name: str | None = None) -> int | None:
        """The count at `path`. An empty answer may leave its count out (GA4 sends neither `rows`
        nor `rowCount` for an empty report): that is 0; on a page with records it is an error.
        A count in a header may be left out (GitLab drops X-Total and X-Total-Pages above 10,000
        records): unknown, so the walk goes on until an empty or short page."""
        if header_name is not None:
            value = header(response, header_name)
            if not value:
                return None
            try:
                return int(value)
            except ValueError:
                raise ApiError(f"pagination: header {header_name} is {value!r}, not a number") from None
        if path is None:
            return None
        try:
            value = dig(response.body, path)
        except PathNotFound as exc:
            if not response.records:
                return 0
            raise ApiError(f"pagination: {setting} {exc}") from None
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(f"pagination: {setting} {path!r} is {value!r}, not a number") from None

    @staticmethod
    def _short(records: list, page_size: int | None) -> bool:
        return not records or bool(page_size and len(records) < page_size)


class SinglePage(Paginator):
    """The endpoint returns everything in one response."""

    type = "single"


class PageNumberPaginator(Paginator):
    """`?page=1,2,3…`. Stops at the total page count (or total records / page size) read from the
    body when configured, else at the first empty page, or a short one when `page_size` is known."""

    type = "page_number"
    page_setting = "page_param"

    def __init__(self, *, page_param: str, start_page: int, size_param: str | None = None,
                 page_size: int | None = None, total_pages_path: str | None = None,
                 total_count_path: str | None = None, total_pages_header: str | None = None,
                 total_count_header: str | None = None, **common: Any):
        super().__init__(**common)
        self.page_param, self.start_page = page_param, start_page
        self.size_param, self.page_size = size_param, page_size
        self.total_pages_path, self.total_count_path = total_pages_path, total_count_path
        self.total_pages_header, self.total_count_header = total_pages_header, total_count_header

    def first(self, request: HttpRequest) -> HttpRequest:
        request = request.copy().set(self.location, self.page_param, self.start_page)
        if self.page_size and self.size_param:
            request.set(self.location, self.size_param, self.page_size)
        return request

    def _page_count(self, response: ApiResponse) -> int | None:
        if self.total_pages_path or self.total_pages_header:
            return self._total(response, "total_pages_path", self.total_pages_path, self.total_pages_header)
        count = self._total(response, "total_count_path", self.total_count_path, self.total_count_header)
        return None if count is None else math.ceil(count / self.page_size)

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        total = self._page_count(response)
        if total is not None:
            done = self.pages_seen >= total
        else:
            done = self._short(response.records, self.page_size)
        if done:
            return None
        page = request.get(self.location, self.page_param) + 1
        return request.copy().set(self.location, self.page_param, page)

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        total = self._page_count(response)
        if total is None:
            return None
        last = min(total, self.max_pages or total) + self.start_page - 1  # a 1-page walk: [start]
        return [request.copy().set(self.location, self.page_param, page)
                for page in range(self.start_page + 1, last + 1)]


class OffsetPaginator(Paginator):
    """`?offset=0&limit=100`, then offset 100, 200… (Jira's `start`/`limit` with `isLastPage`).
    Stops at the total count when configured, at a true `is_last_path`, or at a short page."""

    type = "offset"
    page_setting = "offset_param"

    def __init__(self, *, offset_param: str, limit_param: str, page_size: int, start_offset: int,
                 total_count_path: str | None = None, total_count_header: str | None = None,
                 **common: Any):
        super().__init__(**common)
        self.offset_param, self.limit_param = offset_param, limit_param
        self.page_size, self.start_offset, self.total_count_path = page_size, start_offset, total_count_path
        self.total_count_header = total_count_header

    def _count(self, response: ApiResponse) -> int | None:
        return self._total(response, "total_count_path", self.total_count_path, self.total_count_header)

    def first(self, request: HttpRequest) -> HttpRequest:
        request = request.copy().set(self.location, self.limit_param, self.page_size)
        return request.set(self.location, self.offset_param, self.start_offset)

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        if not response.records:  # an empty page always ends the walk
            return None
        offset = request.get(self.location, self.offset_param) + self.page_size
        total = self._count(response)
        if total is not None:
            done = offset >= total
        else:  # with a last-page flag, a short page is not the end: servers may cap the limit
            done = not self._flagged and self._short(response.records, self.page_size)
        return None if done else request.copy().set(self.location, self.offset_param, offset)

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        total = self._count(response)
        if total is None:
            return None
        size, start = self.page_size, self.start_offset
        end = start + size * self.max_pages if self.max_pages else total
        offsets = range(start + size, min(total, end), size)
        return [request.copy().set(self.location, self.offset_param, o) for o in offsets]


class CursorPaginator(Paginator):
    """The next page is asked for with a token sent back as a parameter: read from the body
    (`next_cursor`, `nextPageToken`…), Stripe-style from the last record (`starting_after=<id>`),
    or from a header (`X-Next-Cursor`; GitLab's `X-Next-Page`, empty on the last page).
    Stops when the token is absent, null or empty, or repeats (a broken API)."""

    type = "cursor"

    def __init__(self, *, cursor_param: str, cursor_path: str | None = None,
                 last_record_path: str | None = None, cursor_header: str | None = None,
                 size_param: str | None = None, page_size: int | None = None, **common: Any):
        super().__init__(**common)
        self.cursor_param, self.cursor_header = cursor_param, cursor_header
        self.cursor_path, self.last_record_path = cursor_path, last_record_path
        self.size_param, self.page_size = size_param, page_size
        self.seen: set[str] = set()

    def first(self, request: HttpRequest) -> HttpRequest:
        if self.page_size and self.size_param:
            return request.copy().set(self.location, self.size_param, self.page_size)
        return request

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        if self.cursor_header:
            token = header(response, self.cursor_header)
        elif self.last_record_path:
            last = response.records[-1] if response.records else {}
            token = dig(last, self.last_record_path, None)
        else:
            token = dig(response.body, self.cursor_path, None)
        if token in (None, "") or str(token) in self.seen:
            return None
        self.seen.add(str(token))
        return request.copy().set(self.location, self.cursor_param, token)


class NextUrlPaginator(Paginator):
    """The response carries the full URL of the next page at `next_url_path`, or in the header
    `next_url_header` (relative URLs are resolved against the current one); the URL already holds
    every query parameter."""

    type = "next_url"

    def __init__(self, *, next_url_path: str | None = None, next_url_header: str | None = None,
                 **common: Any):
        super().__init__(**common)
        self.next_url_path, self.next_url_header = next_url_path, next_url_header
        self.seen: set[str] = set()

    def next_url(self, response: ApiResponse) -> str | None:
        if self.next_url_header:
            return header(response, self.next_url_header)
        return dig(response.body, self.next_url_path, None)

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        url = self.next_url(response)
        if not url:
            return None
        url = urljoin(request.url, url)
        if url in self.seen:
            return None
        self.seen.add(url)
        follow = request.copy()
        follow.url, follow.params = url, {}
        return follow


class LinkHeaderPaginator(NextUrlPaginator):
    """RFC 8288 `Link: <https://…?page=2>; rel="next"` (GitHub-style)."""

    type = "link_header"

    def __init__(self, *, rel: str, **common: Any):
        super().__init__(**common)
        self.rel = rel

    def next_url(self, response: ApiResponse) -> str | None:
        return response.links.get(self.rel)


class GraphQLPaginator(Paginator):
    """A Relay connection (Shopify, GitHub v4): the query and its variables are the POST body;
    `<page_info_path>.endCursor` goes back in `variables.<cursor_variable>`. Stops when
    `hasNextPage` is false, or the cursor is null, empty or repeats."""

    type = "graphql"

    def __init__(self, *, page_info_path: str, cursor_variable: str, size_variable: str,
                 page_size: int | None = None, **common: Any):
        super().__init__(**common)
        self.page_info_path, self.page_size = page_info_path, page_size
        self.cursor_variable, self.size_variable = cursor_variable, size_variable
        self.seen: set[str] = set()

    def first(self, request: HttpRequest) -> HttpRequest:
        if self.page_size:
            return request.copy().set("body", f"variables.{self.size_variable}", self.page_size)
        return request

    def page_info(self, response: ApiResponse) -> dict | None:
        """The connection's pageInfo; None for an empty answer without one (`"orders": null`).
        Missing next to records, it is an error: a query that does not select pageInfo would
        otherwise load page 1 only, silently."""
        try:
            info = dig(response.body, self.page_info_path)
        except PathNotFound as exc:
            info, missing = None, f"{exc}"
        else:
            missing = f"path {self.page_info_path!r} is {info!r:.100}, not an object"
        if isinstance(info, dict):
            return info
        if response.records:
            raise ApiError(f"pagination: {response.url}: page_info_path {missing}; select "
                           "pageInfo { hasNextPage endCursor } in the query")
        return None

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        info = self.page_info(response)
        if info is None or info.get("hasNextPage") is False:
            return None
        cursor = info.get("endCursor")
        if cursor in (None, "") or str(cursor) in self.seen:
            return None
        self.seen.add(str(cursor))
        return request.copy().set("body", f"variables.{self.cursor_variable}", cursor)


def make_paginator(choice: Choice) -> Paginator:
    """A fresh paginator for one walk (they keep state: pages seen, tokens seen)."""
    return PAGINATORS.build(choice.type, **choice.options)
