"""Plan a job: the (item, window) slices a message asks for, fixed once so that redeliveries,
continuations and parallel parts all work through the same list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ingestion.config import EntityConfig
from ingestion.errors import PayloadError, PermanentError
from ingestion.fanout import resolve_items
from ingestion.fetch import Fetcher
from ingestion.jobs import TERMINAL, Job, JobSlice, assign_chunks, create_job, load_job
from ingestion.payload import SyncRequest
from ingestion.settings import Settings
from ingestion.state import read_watermark
from ingestion.windows import plan_windows


def open_job(entity: EntityConfig, request: SyncRequest, settings: Settings, now: datetime,
             fetcher: Callable[[], Fetcher]) -> Job:
    """The job this delivery works on: the one a continuation names, the one an earlier delivery
    of the same message planned, or a new plan."""
    if request.job:
        job = load_job(settings.bucket, entity.name, request.job)
        if job is None:
            raise PermanentError(f"job {request.job} does not exist under gs://{settings.bucket}/jobs/"
                                 f"{entity.name}/: nothing to continue")
        return job
    job = load_job(settings.bucket, entity.name, request.job_id)
    return job or create_job(settings.bucket, plan_job(entity, request, settings, now, fetcher))


def plan_job(entity: EntityConfig, request: SyncRequest, settings: Settings, now: datetime,
             fetcher: Callable[[], Fetcher]) -> Job:
    if request.item is not None and not entity.fan_out:
        raise PayloadError(f"{entity.name} has no fan_out: a message cannot name an item")
    items = [request.item] if request.item is not None else resolve_items(entity, settings, fetcher())
    slices = []
    for item in items:
        watermark = read_watermark(entity, settings.bucket, item) if request.mode == "incremental" else None
        slices += [JobSlice(item, window) for window in plan_windows(entity, request, watermark, now)]
    if request.parallel:
        assign_chunks(slices, min(request.parallel, settings.max_parallel))
    # planned_at is compared with _extracted_at (wall-clock fetch times): it is real time even
    # when `now` is simulated
    return Job(request.job_id, entity.name, request.mode, request.item, datetime.now(UTC), slices)


def finished(job: Job) -> str | None:
    """Why there is nothing to do for this job, if so."""
    if job.status in TERMINAL:
        return f"job {job.job_id} already {job.status}"
    return None
