"""Asynchronous report jobs (ad-platform insights APIs): create the job, poll its status with
backoff until it is done, failed or out of time. The results are then either paged like any
endpoint, with the job id available as `{job_id}`, or, with `result_url_path`, one file
downloaded from the URL the final status names (Amazon Ads, Microsoft Advertising: a pre-signed
URL on a storage host, often a gzip file)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from ingestion.contract import logs
from ingestion.contract.errors import ApiError, RetryableError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.contract.sections import AsyncJobSpec
from ingestion.model import ApiResponse
from ingestion.source.auth import NoAuth
from ingestion.source.credentials import AuthContext
from ingestion.source.fetch import Fetcher
from ingestion.source.httprequest import HttpRequest, build_request

# Query values this long in a pre-signed URL are its signature or session token (short ones are
# dates and lifetimes, which a report may hold as data): masked like any secret.
_SIGNATURE_LENGTH = 32


@dataclass(frozen=True)
class ReportJob:
    job_id: str
    status: Any  # the final status response, parsed
    status_url: str  # the status request's URL (a relative result URL is resolved against it)


def run_report_job(spec: AsyncJobSpec, create: HttpRequest, base_url: str, fetcher: Fetcher,
                   context: dict[str, Any], sleep=time.sleep) -> ReportJob:
    """Create the job with `create` (which carries the window) and wait until it is done."""
    created = fetcher.json(create)
    try:
        job_id = str(dig(created, spec.job_id_path))
    except PathNotFound as exc:
        raise ApiError(f"report job: job id {exc} in the create response: {str(created)[:200]}") from None
    poll = build_request(base_url, spec.poll, {**context, "job_id": job_id})
    interval = spec.poll_interval_seconds
    deadline = time.monotonic() + spec.timeout_seconds
    if still_running(spec, dig(created, spec.status_path, None)):  # (Amazon Ads answers PENDING)
        sleep(interval)  # the create response said so: no poll to hear it again
        interval = min(interval * 2, spec.max_poll_interval_seconds)
    while True:
        answer = fetcher.json(poll)
        status = dig(answer, spec.status_path, None)
        if status in spec.done_values:
            return ReportJob(job_id, answer, poll.url)
        if status in spec.failed_values:
            raise ApiError(f"report job {job_id} ended with status {status!r}")
        if time.monotonic() + interval > deadline:
            raise RetryableError(f"report job {job_id} still {status!r} after "
                                 f"{spec.timeout_seconds:g} s; a redelivery will start over")
        sleep(interval)
        interval = min(interval * 2, spec.max_poll_interval_seconds)


def still_running(spec: AsyncJobSpec, status: Any) -> bool:
    """A status that is neither done nor failed (absent: not known to be running)."""
    return status is not None and status not in spec.done_values and status not in spec.failed_values


def result_file(spec: AsyncJobSpec, job: ReportJob, base_url: str, fetcher: Fetcher) -> Iterator[ApiResponse]:
    """The file at `result_url_path` of the final status, as one page parsed with the entity's
    `records` settings; none when the URL is null or empty (Microsoft Advertising: a report
    without data). The API's credentials go only to the API's own origin: a URL on another host (a
    pre-signed storage URL, whose query is its credential) is fetched without them."""
    try:
        url = dig(job.status, spec.result_url_path)
    except PathNotFound as exc:
        raise ApiError(f"report job {job.job_id}: result_url_path: {exc} in the final status "
                       "response") from None
    if url in (None, ""):
        return
    if not isinstance(url, str):
        raise ApiError(f"report job {job.job_id}: result_url_path {spec.result_url_path!r} holds a "
                       f"{type(url).__name__}, not a URL")
    url = urljoin(job.status_url, url)
    if _origin(url) != _origin(base_url):
        fetcher = _without_credentials(fetcher, url)
    yield fetcher.page(HttpRequest("GET", url))


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _without_credentials(fetcher: Fetcher, url: str) -> Fetcher:
    """A fetcher on the same session that adds no credentials and hides the URL's whole query
    (a pre-signed URL's signature) wherever the URL is stored or logged; not rate-limited as the
    API is: the file is not on the API's host."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    for _, value in query:
        if len(value) >= _SIGNATURE_LENGTH:
            logs.register_secret(value)
    anonymous = NoAuth(AuthContext(project="", secret={}))
    anonymous.secret_params = tuple(dict.fromkeys(name for name, _ in query))
    http = replace(fetcher.http, requests_per_second=None)
    return Fetcher("", http, fetcher.records, fetcher.session, anonymous)
