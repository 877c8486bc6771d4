"""Paginators: one small class per style, chosen by the config's `pagination.type`.

A paginator sees the first request and then each parsed page, and returns the next request or None.
Adding a style = one class here + one line in PAGINATORS + a `$defs/pagination` branch in the schema.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from ingestion.errors import ApiError
from ingestion.httprequest import HttpRequest
from ingestion.jsonpath import PathNotFound, dig


class Paginator(Protocol):
    def first(self, request: HttpRequest) -> HttpRequest: ...

    def next(self, request: HttpRequest, body: Any, records: list) -> HttpRequest | None: ...


class SinglePage:
    """The endpoint returns everything in one response."""

    def __init__(self, spec: dict):
        self.spec = spec

    def first(self, request: HttpRequest) -> HttpRequest:
        return request

    def next(self, request: HttpRequest, body: Any, records: list) -> HttpRequest | None:
        return None


class PageNumberPaginator:
    """`?page=1,2,3…`. Stops at the total page count (or total records / page size) read from the
    body when configured, else at the first empty page, or a short one when `page_size` is known."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.location = spec.get("in", "query")
        self.page = spec.get("start_page", 1)
        self.page_size = spec.get("page_size")
        self.pages_seen = 0

    def first(self, request: HttpRequest) -> HttpRequest:
        request = request.copy().set(self.location, self.spec["page_param"], self.page)
        if self.page_size and self.spec.get("size_param"):
            request.set(self.location, self.spec["size_param"], self.page_size)
        return request

    def _total_pages(self, body: Any) -> int | None:
        try:
            if "total_pages_path" in self.spec:
                return int(dig(body, self.spec["total_pages_path"]))
            if "total_count_path" in self.spec:
                return math.ceil(int(dig(body, self.spec["total_count_path"])) / self.page_size)
        except (PathNotFound, TypeError, ValueError) as exc:
            raise ApiError(f"pagination: cannot read the page total: {exc}") from None
        return None

    def next(self, request: HttpRequest, body: Any, records: list) -> HttpRequest | None:
        self.pages_seen += 1
        total = self._total_pages(body)
        if total is not None:
            done = self.pages_seen >= total
        else:
            done = not records or bool(self.page_size and len(records) < self.page_size)
        if done or self.pages_seen >= self.spec.get("max_pages", 100_000):
            return None
        self.page += 1
        return request.copy().set(self.location, self.spec["page_param"], self.page)


PAGINATORS: dict[str, type] = {
    "single": SinglePage,
    "page_number": PageNumberPaginator,
}


def make_paginator(spec: dict) -> Paginator:
    return PAGINATORS[spec["type"]](spec)
