"""One sync, top-down: payload → plan windows (a job) → take the lease → per step: extract pages →
stage to GCS → load → merge → commit state and checkpoint → continue or finish → run row.
Each step is a function of its own module; this file only sequences them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from ingestion.contract.config import EntityConfig, load_entity
from ingestion.contract.dates import to_rfc3339
from ingestion.contract.errors import LeaseHeld
from ingestion.contract.logs import log_context
from ingestion.contract.payload import SyncRequest, continuation_payload
from ingestion.contract.settings import Settings
from ingestion.model import TERMINAL, Job, Page
from ingestion.planning.jobs import load_job, update_job
from ingestion.planning.lease import ALL_ITEMS, Claim, Lease, claims_for, releasing, unheld
from ingestion.planning.plan import check_request, finished, open_job
from ingestion.rows.cursor import record_filter
from ingestion.rows.replay import replay_pages
from ingestion.rows.stage import stage_pages
from ingestion.run.clock import RunClock
from ingestion.run.decide import is_retryable
from ingestion.run.fanout import resolve_items
from ingestion.run.steps import Step, merge_staged, run_steps
from ingestion.source.auth import make_authenticator
from ingestion.source.fetch import Fetcher, open_session
from ingestion.warehouse.children import ensure_child_tables, remove_orphan_children
from ingestion.warehouse.ledger import RunRow, append_run
from ingestion.warehouse.load import ensure_target_table
from ingestion.warehouse.writes import write_mode

log = logging.getLogger("ingestion.run.pipeline")


def run_sync(request: SyncRequest, settings: Settings, now: datetime | None = None,
             progress: Callable[[Page], None] | None = None) -> RunRow:
    """Run one delivery of a trigger message and record it in the run ledger. Exceptions propagate
    to the caller (the entry point decides: acknowledge or redeliver). A process killed mid-run
    writes no run row, holds its lease until it expires, and its redelivery resumes the job."""
    row = RunRow(run_id=request.run_id, entity=request.entity, sync_mode=request.mode,
                 message_id=request.message_id or None, attempt=request.attempt,
                 job_id=request.job_id, item=None if request.item is None else str(request.item))
    clock = RunClock(now or datetime.now(UTC), settings.time_budget_seconds)
    with log_context(**context_of(row)):  # every line logged in the run carries its ids
        try:
            entity = load_entity(request.entity, settings.config_dir, settings.schema_dir)
            sync(entity, request, settings, row, clock, progress)
            if row.status == "running":
                row.status = "succeeded"
        except LeaseHeld as exc:
            row.status, row.error_class = "skipped", type(exc).__name__
            row.error_message = f"deferred, Pub/Sub redelivers: {exc}"
            raise
        except Exception as exc:
            row.status, row.error_class = "failed", type(exc).__name__
            row.error_message = str(exc)[:4000]
            if not is_retryable(exc):  # parallel parts stop; a full snapshot deletes nothing
                fail_job(settings, request.entity, request.job_id, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if row.status != "running":
                row.finished_at = datetime.now(UTC)
                record_run(row, settings)
        # The run's outcome as a field of its own: deploy/alerts.sh counts rows and successes by it.
        log.info("sync %s: %d pages, %d records, %d rejected, %d filtered, %d rows merged, watermark %s",
                 row.status, row.pages, row.records, row.rejected, row.filtered, row.rows_merged,
                 row.watermark or row.watermark_value or "unchanged", extra={"status": row.status})
        return row


def sync(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
         clock: RunClock, progress: Callable[[Page], None] | None = None) -> None:
    continued = check_request(entity, request, settings.bucket)  # rejects before any side effect
    target = ensure_target_table(entity, settings)  # schema problems fail here, before any fetch
    ensure_child_tables(entity, settings)
    if request.mode == "replay":
        return replay(entity, request, settings, row, target, clock)
    with open_session(entity.http) as session:
        fetcher = functools.cache(lambda: connect(entity, settings, session))
        job = continued or open_job(entity, request, settings, clock.start,
                                    lambda: resolve_items(entity, settings, fetcher()))
        if reason := finished(job):
            return skip(row, reason)
        if request.parallel:
            return fan_out_parts(job, request, settings, row)
        pending = job.pending(request.chunk)
        if not pending:  # a duplicate, or a redelivery after the last step committed
            if not finish_job(entity, job, settings, row, target, clock):
                skip(row, f"no window left to sync in job {job.job_id}")
            return None
        lease = Lease(entity, settings.bucket, row.run_id, job.job_id, claims_for(pending),
                      settings.lease_seconds, clock.now, request.mode)
        job = take_lease(lease, request, job, settings, row)
        if job is None:
            return None
        with releasing(lease):
            job = run_steps(Step(entity, settings, row, target, fetcher, clock, progress), job,
                            job.pending(request.chunk))
    if job.pending(request.chunk):
        return continue_later(job, request, settings, row)
    finish_job(entity, job, settings, row, target, clock)
    return None


def take_lease(lease: Lease, request: SyncRequest, job: Job, settings: Settings,
               row: RunRow) -> Job | None:
    """Claim the job's pending windows; returns the job to work on, or None when this run has
    nothing to do. Another run holding an overlapping claim: a backfill or a replay simply waits
    (LeaseHeld is retryable: Pub/Sub redelivers it later, so it is never lost). An incremental run
    meeting another incremental run exits (that run covers the same ground); meeting backfills,
    it takes the part of its range nobody holds, now, instead of waiting a schedule period."""
    try:
        lease.acquire()
        return job
    except LeaseHeld as exc:
        if request.mode != "incremental" or any(h.job_id == job.job_id for h in exc.holds):
            raise  # (another delivery of this very job: wait for it)
        if any(hold.mode in ("incremental", None) for hold in exc.holds):
            if request.job:  # a continuation must finish its own job: wait
                raise
            update_job(settings.bucket, job, lambda j: setattr(j, "status", "skipped"))
            skip(row, f"another run holds the lease: {exc}")
            return None
        return yield_to_backfills(lease, job, request, settings, exc)


def yield_to_backfills(lease: Lease, job: Job, request: SyncRequest, settings: Settings,
                       held: LeaseHeld) -> Job:
    """Narrow the job to the parts of its windows that the backfills holding the rest do not
    claim (they load those), and claim them. The watermark still moves only across contiguous
    coverage: a stretch loaded past a backfill's hole waits for the backfill to fill it."""
    pending = job.pending(request.chunk)
    free = unheld(pending, held.holds, whole_only=lease.entity.aligned)
    if not free:
        raise held  # everything it would load is being loaded: wait, then continue after it
    left = [{"item": h.claim.item, "start": to_rfc3339(h.claim.start), "end": to_rfc3339(h.claim.end),
             "job": h.job_id} for h in held.holds]

    def narrow(j: Job) -> None:
        j.slices = [s for s in j.slices if s not in pending] + free
        j.yielded = [*j.yielded, *left]

    job = update_job(settings.bucket, job, narrow)
    lease.claims = claims_for(free)
    lease.acquire()  # a newer claim meanwhile: LeaseHeld, redelivered
    log.info("backfill job(s) %s hold part of this run's range: loading the rest now (%d window(s))",
             ", ".join(sorted({h.job_id for h in held.holds})), len(free))
    return job


def finish_job(entity: EntityConfig, job: Job, settings: Settings, row: RunRow, target: str,
               clock: RunClock) -> bool:
    """When no slice of the job is left (whoever did them): a full snapshot is finished by the
    entity's write mode (the rows it no longer has removed), then the job is marked succeeded, so a
    later duplicate of the message is skipped. Repeating this after a crash is harmless. Returns
    whether it finished the job."""
    if job.pending():
        return False
    if job.mode == "historical_full" and not job.finalized:
        # absent rows deleted or flagged; replace: the snapshot swapped in; history: versions closed
        row.rows_deleted = write_mode(entity).finish(entity, settings, target, job, clock.now())
        if entity.absent_rows == "hard_delete":  # the deleted rows' children go with them
            remove_orphan_children(entity, settings, job.planned_at)

    def succeed(j: Job) -> None:
        j.status, j.finalized = "succeeded", True

    update_job(settings.bucket, job, succeed)
    return True


def continue_later(job: Job, request: SyncRequest, settings: Settings, row: RunRow) -> None:
    """Out of time: the committed steps stay, the rest goes to a new message (ack this one).
    Without a trigger topic (the `run` command) the caller continues the job itself."""
    row.status = "continued"
    if not settings.trigger_topic:
        log.info("time budget spent: %d slice(s) left, continued by the caller",
                 len(job.pending(request.chunk)))
        return
    from utils import pubsub_helper  # only a run that continues pays for importing the client

    message_id = pubsub_helper.publish_json(settings.project, settings.trigger_topic,
                                            continuation_payload(request, job.job_id, request.chunk))
    log.info("time budget spent: %d slice(s) left, continued in message %s",
             len(job.pending(request.chunk)), message_id)


def fan_out_parts(job: Job, request: SyncRequest, settings: Settings, row: RunRow) -> None:
    """A parallel backfill: publish one message per part that still has work (again after a
    redelivery: a part that finds nothing left simply exits)."""
    from utils import pubsub_helper

    parts = sorted({s.chunk for s in job.pending()})
    for chunk in parts:
        pubsub_helper.publish_json(settings.project, settings.trigger_topic,
                                   continuation_payload(request, job.job_id, chunk))
    if job.slices:
        row.window_start = min(s.window.start for s in job.slices)
        row.window_end = max(s.window.end for s in job.slices)
    row.status = "continued"
    log.info("backfill of %d window(s) fanned out into %d message(s)", len(job.slices), len(parts))


def replay(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
           target: str, clock: RunClock) -> None:
    """Rebuild from the raw pages in GCS (those overlapping the message's window, if any) instead
    of calling the API; never moves a watermark."""
    row.window_start, row.window_end = request.start, request.end
    lease = Lease(entity, settings.bucket, row.run_id, request.job_id,
                  [Claim(ALL_ITEMS, request.start or datetime.min.replace(tzinfo=UTC),
                         request.end or datetime.max.replace(tzinfo=UTC))],
                  settings.lease_seconds, clock.now, "replay")
    lease.acquire()
    with releasing(lease):
        pages = replay_pages(entity, settings.bucket, request.start, request.end)
        staged = stage_pages(pages, entity, row.run_id, settings.bucket, keep=record_filter(entity, False))
        merge_staged(Step(entity, settings, row, target, None, clock), staged, None)


def skip(row: RunRow, reason: str) -> None:
    row.status, row.error_message = "skipped", reason
    log.info("nothing to do: %s", reason)


def fail_job(settings: Settings, entity: str, job_id: str, error: str) -> None:
    """Mark the job failed after a permanent error, if it exists and is not over: no part or
    continuation of it runs any more, a full snapshot deletes nothing, and `gaps` shows what it
    left. Failing to is logged, never raised: the run's own error is what gets reported."""
    def fail(job: Job) -> None:
        if job.status not in TERMINAL:
            job.status, job.error = "failed", error[:1000]

    try:
        job = load_job(settings.bucket, entity, job_id)
        if job is not None and job.status not in TERMINAL:
            update_job(settings.bucket, job, fail)
            log.error("job %s is marked failed: %d slice(s) will not be loaded by it",
                      job_id, len(job.pending()))
    except Exception:
        log.exception("could not mark job %s failed", job_id)


def connect(entity: EntityConfig, settings: Settings, session: requests.Session) -> Fetcher:
    """The entity's authenticated fetcher over the run's single HTTP session."""
    auth = make_authenticator(entity.auth, settings.project, session, entity.base_url,
                              entity.http.timeouts)
    return Fetcher(entity.source, entity.http, entity.records, session, auth, entity.response_actions)


def context_of(row: RunRow) -> dict:
    context = {"entity": row.entity, "run_id": row.run_id, "job_id": row.job_id,
               "message_id": row.message_id, "sync_mode": row.sync_mode}
    return context if row.item is None else {**context, "item": row.item}


def record_run(row: RunRow, settings: Settings) -> None:
    try:
        append_run(row, settings)
    except Exception:  # the ledger must never hide the sync's own outcome
        log.exception("could not append the run row", extra=context_of(row))
