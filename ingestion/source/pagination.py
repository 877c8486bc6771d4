"""Paginators: one small class per style, chosen by the config's `pagination.type`.

A paginator sets up the first request, then sees each response and returns the next request, or
None when the walk is over. When the page count is known after the first response, `remaining`
returns every further request at once so they can be fetched concurrently.
Adding a style = one class here + one line in PAGINATORS + a `$defs/pagination` branch in the schema.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urljoin

from ingestion.contract.errors import ApiError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.model import ApiResponse
from ingestion.source.httprequest import HttpRequest


class Paginator:
    """Base: a single page. Subclasses override `first`/`advance`, and `remaining` if they can."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.location = spec.get("in", "query")
        self.max_pages = spec.get("max_pages", 100_000)
        self.pages_seen = 0

    def first(self, request: HttpRequest) -> HttpRequest:
        return request

    def next(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        self.pages_seen += 1
        if self.pages_seen >= self.max_pages or self._flag_says_done(response.body):
            return None
        return self.advance(request, response)

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        return None

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        """Every request after the first when the total is known from the first response."""
        return None

    def _read(self, body: Any, key: str, default: Any = None) -> Any:
        if key not in self.spec:
            return default
        try:
            return dig(body, self.spec[key])
        except PathNotFound as exc:
            raise ApiError(f"pagination: {key} {exc}") from None

    def _flag_says_done(self, body: Any) -> bool:
        """`is_last_path` true, or `has_more_path` false, ends the walk (Jira's isLastPage)."""
        if self._read(body, "is_last_path", False) is True:
            return True
        return "has_more_path" in self.spec and not self._read(body, "has_more_path")

    def _total(self, body: Any, key: str) -> int | None:
        value = self._read(body, key)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(f"pagination: {key} {self.spec[key]!r} is {value!r}, not a number") from None

    def _short(self, records: list) -> bool:
        size = self.spec.get("page_size")
        return not records or bool(size and len(records) < size)


class SinglePage(Paginator):
    """The endpoint returns everything in one response."""


class PageNumberPaginator(Paginator):
    """`?page=1,2,3…`. Stops at the total page count (or total records / page size) read from the
    body when configured, else at the first empty page, or a short one when `page_size` is known."""

    def first(self, request: HttpRequest) -> HttpRequest:
        request = request.copy().set(self.location, self.spec["page_param"], self.spec.get("start_page", 1))
        if "page_size" in self.spec and "size_param" in self.spec:
            request.set(self.location, self.spec["size_param"], self.spec["page_size"])
        return request

    def _page_count(self, body: Any) -> int | None:
        if "total_pages_path" in self.spec:
            return self._total(body, "total_pages_path")
        count = self._total(body, "total_count_path")
        return None if count is None else math.ceil(count / self.spec["page_size"])

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        total = self._page_count(response.body)
        done = self.pages_seen >= total if total is not None else self._short(response.records)
        if done:
            return None
        page = request.get(self.location, self.spec["page_param"]) + 1
        return request.copy().set(self.location, self.spec["page_param"], page)

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        total = self._page_count(response.body)
        if total is None:
            return None
        start = self.spec.get("start_page", 1)
        last = min(total, self.max_pages) + start - 1  # page numbers of a 1-page walk: [start]
        return [request.copy().set(self.location, self.spec["page_param"], page)
                for page in range(start + 1, last + 1)]


class OffsetPaginator(Paginator):
    """`?offset=0&limit=100`, then offset 100, 200… (Jira's `start`/`limit` with `isLastPage`).
    Stops at the total count when configured, at a true `is_last_path`, or at a short page."""

    def first(self, request: HttpRequest) -> HttpRequest:
        request = request.copy().set(self.location, self.spec["limit_param"], self.spec["page_size"])
        return request.set(self.location, self.spec["offset_param"], self.spec.get("start_offset", 0))

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        if not response.records:  # an empty page always ends the walk
            return None
        offset = request.get(self.location, self.spec["offset_param"]) + self.spec["page_size"]
        total = self._total(response.body, "total_count_path")
        if total is not None:
            done = offset >= total
        else:  # with a last-page flag, a short page is not the end: servers may cap the limit
            flagged = "is_last_path" in self.spec or "has_more_path" in self.spec
            done = not flagged and self._short(response.records)
        return None if done else request.copy().set(self.location, self.spec["offset_param"], offset)

    def remaining(self, request: HttpRequest, response: ApiResponse) -> list[HttpRequest] | None:
        total = self._total(response.body, "total_count_path")
        if total is None:
            return None
        size, start = self.spec["page_size"], self.spec.get("start_offset", 0)
        offsets = range(start + size, min(total, start + size * self.max_pages), size)
        return [request.copy().set(self.location, self.spec["offset_param"], o) for o in offsets]


class CursorPaginator(Paginator):
    """The next page is asked for with a token sent back as a parameter: read from the body
    (`next_cursor`, `nextPageToken`…) or, Stripe-style, from the last record (`starting_after=<id>`).
    Stops when the token is absent, null or empty, or repeats (a broken API)."""

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.seen: set[str] = set()

    def first(self, request: HttpRequest) -> HttpRequest:
        if "page_size" in self.spec and "size_param" in self.spec:
            return request.copy().set(self.location, self.spec["size_param"], self.spec["page_size"])
        return request

    def advance(self, request: HttpRequest, response: ApiResponse) -> HttpRequest | None:
        if "last_record_path" in self.spec:
            last = response.records[-1] if response.records else {}
            token = dig(last, self.spec["last_record_path"], None)
        else:
            token = dig(response.body, self.spec["cursor_path"], None)
        if token in (None, "") or str(token) in self.seen:
            return None
        self.seen.add(str(token))
        return request.copy().set(self.location, self.spec["cursor_param"], token)


class NextUrlPaginator(Paginator):
    """The response carries the full URL of the next page at `next_url_path` (relative URLs are
    resolved against the current one); the URL already holds every query parameter."""

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.seen: set[str] = set()

    def next_url(self, response: ApiResponse) -> str | None:
        return dig(response.body, self.spec["next_url_path"], None)

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

    def next_url(self, response: ApiResponse) -> str | None:
        return response.links.get(self.spec.get("rel", "next"))


PAGINATORS: dict[str, type[Paginator]] = {
    "single": SinglePage,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
    "cursor": CursorPaginator,
    "next_url": NextUrlPaginator,
    "link_header": LinkHeaderPaginator,
}


def make_paginator(spec: dict) -> Paginator:
    return PAGINATORS[spec["type"]](spec)
