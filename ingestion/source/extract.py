"""Walk the API: for each (item, window) slice, page through the endpoint and yield pages one at a
time. Nothing holds more than the pages in flight; when the page count is known after the first
response, the remaining pages are fetched concurrently (up to `http.max_concurrency`)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import to_rfc3339
from ingestion.contract.sections import Choice, RecordsSpec, RequestSpec
from ingestion.model import ApiResponse, Page, Slice
from ingestion.source.asyncjob import result_file, run_report_job
from ingestion.source.dateformats import date_format
from ingestion.source.fetch import Fetcher
from ingestion.source.httprequest import HttpRequest, build_request
from ingestion.source.pagination import make_paginator

log = logging.getLogger("ingestion.source.extract")


def placeholder_values(entity: EntityConfig, piece: Slice) -> dict[str, Any]:
    """`{start}`/`{end}` in the date filter's format (an inclusive API end is moved back by
    `inclusive_end`), and `{item}`."""
    context: dict[str, Any] = {}
    spec = entity.date_filter
    if spec is not None:
        bound = date_format(spec)
        end = piece.window.end - (spec.inclusive_end or timedelta())
        context.update(start=bound.format(piece.window.start), end=bound.format(end))
    else:  # {start}/{end} in a request without a date filter: ISO instants
        context.update(start=to_rfc3339(piece.window.start), end=to_rfc3339(piece.window.end))
    if piece.item is not None:
        context["item"] = piece.item
    return context


def with_date_filter(request: HttpRequest, entity: EntityConfig, context: dict[str, Any]) -> HttpRequest:
    spec = entity.date_filter
    if spec is not None and spec.start_param:
        request.set(spec.location, spec.start_param, context["start"])
    if spec is not None and spec.end_param:
        request.set(spec.location, spec.end_param, context["end"])
    return request


def walk(entity: EntityConfig, piece: Slice, fetcher: Fetcher,
         sleep: Callable[[float], None] = time.sleep) -> Iterator[ApiResponse]:
    """The responses of one slice. With a report job, the window goes into the job's create
    request; the results are then the file its final status names (`result_url_path`: one page,
    no pagination), or `request` with `{job_id}`, paged. `sleep` waits between status polls."""
    context = placeholder_values(entity, piece)
    job = entity.async_job
    if job is None:
        first = with_date_filter(build_request(entity.base_url, entity.request, context), entity, context)
        if piece.after is not None and entity.incremental.param:  # a sequence cursor's watermark
            first.set(entity.incremental.location, entity.incremental.param, piece.after)
    else:
        create = with_date_filter(build_request(entity.base_url, job.create, context, "POST"), entity,
                                  context)
        report = run_report_job(job, create, entity.base_url, fetcher, context, sleep)
        if job.result_url_path:
            yield from result_file(job, report, entity.base_url, fetcher)
            return
        first = build_request(entity.base_url, entity.request, {**context, "job_id": report.job_id})
    yield from paginate(entity, first, fetcher)


def paginate(entity: EntityConfig, first: HttpRequest, fetcher: Fetcher,
             pagination: Choice | None = None) -> Iterator[ApiResponse]:
    """The pages of one walk (by the entity's pagination, or `pagination`), each judged by the
    paginator before it is handed on: a page it rejects (the same records as the page before) is
    never staged. A `final` page ends the walk, also when the pages after it are already in flight."""
    paginator = make_paginator(pagination or entity.pagination)
    request = paginator.first(first)
    response = fetcher.page(request)
    planned = None if response.final else paginator.remaining(request, response)
    if planned is None:
        while True:
            following = paginator.next(request, response)
            yield response
            if following is None:
                return
            request, response = following, fetcher.page(following)
    paginator.check_repeat(response)
    yield response
    for response in fetcher.pages(planned):
        paginator.check_repeat(response)
        yield response
        if response.final:
            return


def extract_pages(entity: EntityConfig, slices: list[Slice], fetcher: Fetcher,
                  numbered_after: int = 0) -> Iterator[Page]:
    """Every page of `slices` in order, read one slice after another (a run reads ahead:
    ingestion/source/readahead.py), numbered after the `numbered_after` pages of earlier steps."""
    number = numbered_after
    for piece in slices:
        for page in slice_pages(entity, piece, fetcher):
            number += 1
            page.number = number
            yield page


def slice_pages(entity: EntityConfig, piece: Slice, fetcher: Fetcher,
                done: Callable[[Page], bool] | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Page]:
    """Everything one slice reads, unnumbered (the reader numbers pages in slice order): its
    records' pages, up to one that `done` says lies wholly beyond the slice (a sorted feed: the
    rest is not requested), then the pages of `deletes.endpoint` for it."""
    for response in walk(entity, piece, fetcher, sleep):
        page = Page(0, piece, response, datetime.now(UTC))
        yield page
        if done is not None and done(page):
            log.info("a page of the window %s → %s lies wholly beyond it (incremental.order %s): the "
                     "rest of the feed is not read", to_rfc3339(piece.window.start),
                     to_rfc3339(piece.window.end), entity.incremental.order)
            break
    if entity.deletes and entity.deletes.endpoint:  # the slice's tombstones, after its records
        yield from tombstone_pages(entity, piece, fetcher, numbered_after=-1)


@dataclasses.dataclass
class TombstonePage(Page):
    """A page of `deletes.endpoint`: its records name deleted keys (ingestion/rows/deletes.py).
    Its raw object says so in its metadata (`kind`), so a replay reads it the same way."""

    kind = "tombstones"


def tombstone_records(entity: EntityConfig) -> RecordsSpec:
    """How a tombstone response is read: the entity's format, the endpoint's records path."""
    return dataclasses.replace(entity.records, path=entity.deletes.endpoint.records_path, fields={},
                               columns=None)


def tombstone_pages(entity: EntityConfig, piece: Slice, fetcher: Fetcher,
                    numbered_after: int = 0) -> Iterator[TombstonePage]:
    """The pages of `deletes.endpoint` for one slice: its own path, params and pagination, with
    the entity's headers, auth, http settings and date filter (`{start}`, `{end}`, `{item}`)."""
    endpoint = entity.deletes.endpoint
    context = placeholder_values(entity, piece)
    spec = RequestSpec(path=endpoint.path, params=endpoint.params, headers=entity.request.headers)
    first = with_date_filter(build_request(entity.base_url, spec, context), entity, context)
    reader = copy.copy(fetcher)  # the same session, credentials and rate limits
    reader.records = tombstone_records(entity)
    responses = paginate(entity, first, reader, endpoint.pagination)
    for number, response in enumerate(responses, numbered_after + 1):
        yield TombstonePage(number, piece, response, datetime.now(UTC))
