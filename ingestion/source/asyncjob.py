"""Asynchronous report jobs (ad-platform insights APIs): create the job, poll its status with
backoff until it is done, failed or out of time; the results are then paged like any endpoint,
with the job id available as `{job_id}`."""

from __future__ import annotations

import time
from typing import Any

from ingestion.contract.errors import ApiError, RetryableError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.contract.sections import AsyncJobSpec
from ingestion.source.fetch import Fetcher
from ingestion.source.httprequest import HttpRequest, build_request


def run_report_job(spec: AsyncJobSpec, create: HttpRequest, base_url: str, fetcher: Fetcher,
                   context: dict[str, Any], sleep=time.sleep) -> str:
    """Create the job with `create` (which carries the window) and wait for it; returns its id."""
    created = fetcher.json(create)
    try:
        job_id = str(dig(created, spec.job_id_path))
    except PathNotFound as exc:
        raise ApiError(f"report job: job id {exc} in the create response: {str(created)[:200]}") from None
    poll = build_request(base_url, spec.poll, {**context, "job_id": job_id})
    interval = spec.poll_interval_seconds
    deadline = time.monotonic() + spec.timeout_seconds
    while True:
        status = dig(fetcher.json(poll), spec.status_path, None)
        if status in spec.done_values:
            return job_id
        if status in spec.failed_values:
            raise ApiError(f"report job {job_id} ended with status {status!r}")
        if time.monotonic() + interval > deadline:
            raise RetryableError(f"report job {job_id} still {status!r} after "
                                 f"{spec.timeout_seconds:g} s; a redelivery will start over")
        sleep(interval)
        interval = min(interval * 2, spec.max_poll_interval_seconds)
