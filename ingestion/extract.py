"""Walk the API: for each window, page through the endpoint and yield parsed pages one at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from ingestion.auth import Authenticator
from ingestion.config import EntityConfig
from ingestion.dates import format_bound
from ingestion.errors import ApiError
from ingestion.httprequest import HttpRequest
from ingestion.jsonpath import PathNotFound, dig
from ingestion.pagination import make_paginator
from ingestion.windows import Window
from utils import requests_api


@dataclass
class Page:
    number: int  # 1-based, across the whole run
    window: Window
    url: str  # secrets redacted
    status: int
    content: bytes  # the body exactly as received
    records: list[Any]
    fetched_at: datetime


def open_session(entity: EntityConfig) -> requests.Session:
    http = entity.http
    return requests_api.new_session(
        max_retries=http.get("max_retries", 5), backoff_factor=http.get("backoff_factor", 0.5)
    )


def base_request(entity: EntityConfig, window: Window) -> HttpRequest:
    """The first request of a window: static parts of the config plus the window's date filter."""
    spec = entity.request
    request = HttpRequest(
        method=spec.get("method", "GET"),
        url=entity.spec["base_url"].rstrip("/") + spec["path"],
        params=dict(spec.get("params", {})),
        headers={k: str(v) for k, v in spec.get("headers", {}).items()},
        json=dict(spec["body"]) if "body" in spec else None,
    )
    date_filter = entity.date_filter
    if date_filter:
        location = date_filter.get("in", "query")
        request.set(location, date_filter["start_param"], format_bound(window.start, date_filter))
        if "end_param" in date_filter:
            request.set(location, date_filter["end_param"], format_bound(window.end, date_filter))
    return request


def extract_pages(entity: EntityConfig, windows: list[Window], session: requests.Session,
                  auth: Authenticator) -> Iterator[Page]:
    number = 0
    timeout = (entity.http.get("connect_timeout_seconds", 10),
               entity.http.get("read_timeout_seconds", 60))
    for window in windows:
        paginator = make_paginator(entity.pagination)
        request: HttpRequest | None = paginator.first(base_request(entity, window))
        while request is not None:
            sent = request.copy()
            auth.apply(sent)  # credentials go on the copy only: never into state or logs
            resp = requests_api.send(
                session, sent.method, sent.url, params=sent.params, json=sent.json,
                headers=sent.headers, timeout=timeout, secret_params=auth.secret_params,
            )
            url = requests_api.redact_url(resp.url, auth.secret_params)
            body = parse_body(resp.content, url)
            records = records_of(body, entity.records_path, url)
            number += 1
            yield Page(number, window, url, resp.status_code, resp.content, records,
                       datetime.now(UTC))
            request = paginator.next(request, body, records)


def parse_body(content: bytes, url: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        excerpt = content[:200].decode("utf-8", "replace").strip()
        raise ApiError(f"response from {url} is not valid JSON: {excerpt!r}") from None


def records_of(body: Any, path: str, url: str) -> list[Any]:
    """The records list at `path`. A missing path is an error (never silently an empty page);
    an explicit null is an empty page; a single object is one record."""
    try:
        value = dig(body, path)
    except PathNotFound as exc:
        raise ApiError(f"response from {url}: record {exc}") from None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
