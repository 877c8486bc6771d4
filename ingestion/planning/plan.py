"""Plan a job: the (item, window) slices a message asks for, fixed once so that redeliveries,
continuations and parallel parts all work through the same list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.errors import PayloadError, PermanentError
from ingestion.contract.payload import SyncRequest
from ingestion.contract.settings import Settings
from ingestion.model import TERMINAL, Job, JobSlice
from ingestion.planning.jobs import assign_chunks, create_job, load_job
from ingestion.planning.state import read_watermark
from ingestion.planning.windows import plan_windows
from utils.parallel import map_in_threads


def check_request(entity: EntityConfig, request: SyncRequest, bucket: str) -> Job | None:
    """Everything the message asks, checked against the entity (and, for a continuation or a
    parallel part, against its stored job) before anything is created or written: a rejected
    message leaves no trace but its run row. Returns the continued job, if any."""
    if request.item is not None and not entity.fan_out:
        raise PayloadError(f"{entity.name} has no fan_out: a message cannot name an item")
    if entity.target.write == "replace" and request.mode != "historical_full":
        raise PayloadError(f"{entity.name} is written with target.write replace: only a complete "
                           f"historical_full snapshot replaces its table, not sync_mode {request.mode}")
    if request.mode == "incremental_window" and entity.incremental.sequence:
        raise PayloadError(f"{entity.name} has an {entity.incremental.cursor_type} cursor and no dates to "
                           "backfill by: use sync_mode incremental or historical_full")
    if not request.job:
        return None
    job = load_job(bucket, entity.name, request.job)
    if job is None:
        raise PermanentError(f"job {request.job} does not exist under gs://{bucket}/jobs/"
                             f"{entity.name}/: nothing to continue")
    asked = (request.mode, None if request.item is None else str(request.item))
    planned = (job.mode, None if job.item is None else str(job.item))
    if asked != planned:
        raise PayloadError(f"the message continues job {job.job_id} as sync_mode {asked[0]}"
                           f"{'' if asked[1] is None else ' item ' + asked[1]}, but that job was "
                           f"planned as {planned[0]}{'' if planned[1] is None else ' item ' + planned[1]}")
    if request.chunk is not None and request.chunk not in {s.chunk for s in job.slices}:
        raise PayloadError(f"job {job.job_id} has no part {request.chunk}")
    return job


def open_job(entity: EntityConfig, request: SyncRequest, settings: Settings, now: datetime,
             fan_out_items: Callable[[], list[Any]]) -> Job:
    """The job a new message asks for: the one an earlier delivery of the same message planned,
    or a new plan. `fan_out_items` gives the entity's fan-out items (`[None]` without fan-out); it is
    called only when a plan is made (it may call the API or read a table)."""
    job = load_job(settings.bucket, entity.name, request.job_id)
    return job or create_job(settings.bucket, plan_job(entity, request, settings, now, fan_out_items))


def plan_job(entity: EntityConfig, request: SyncRequest, settings: Settings, now: datetime,
             fan_out_items: Callable[[], list[Any]]) -> Job:
    items = [request.item] if request.item is not None else fan_out_items()
    incremental = request.mode == "incremental"
    # each item's watermark is an object of its own: fifty accounts' are read eight at a time
    watermarks = map_in_threads(lambda item: read_watermark(entity, settings.bucket, item), items) \
        if incremental else [None] * len(items)
    slices = []
    for item, watermark in zip(items, watermarks, strict=True):
        after = watermark if entity.incremental.sequence else None  # sent in incremental.param
        slices += [JobSlice(item, window, after=after)
                   for window in plan_windows(entity, request, watermark, now)]
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
