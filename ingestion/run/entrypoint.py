"""From a Pub/Sub CloudEvent to a sync, and the ack/redeliver decision.

Returning normally acknowledges the message; raising makes Pub/Sub redeliver it. Permanent errors
(a bad message, a bad config, a 4xx from the API, records that break the contract) are logged with
their cause and acknowledged, so they never loop; retryable ones are re-raised.

The pipeline (and with it every Google client library) is imported on the first message, not when
the function module is imported: a cold start serves sooner and pays for nothing it does not use.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ingestion.contract.errors import LeaseHeld, PayloadError
from ingestion.contract.logs import log_context
from ingestion.contract.payload import (
    ENTITY_NAME,
    JOB_ID,
    SyncRequest,
    decode_message_data,
    message_id_of,
    request_from_envelope,
)
from ingestion.contract.redact import redact_exception
from ingestion.contract.settings import Settings
from ingestion.run.decide import is_retryable

if TYPE_CHECKING:
    from ingestion.warehouse.ledger import RunRow

log = logging.getLogger("ingestion.run.entrypoint")
M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
MALLOC_ARENAS = 2


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Have glibc's malloc make no arena beyond `arenas`, as MALLOC_ARENA_MAX=2 would (arenas
    already made stay in use, so this runs as early as it can); returns whether glibc took the
    setting. glibc gives each new thread an arena of its own (up to 8 per core), and each keeps
    the freed 4 MiB upload buffers of its thread: over a million-record run the fetch, upload and
    load threads' arenas held ~60 MB more than a 100k run's (peak RSS 265–360 MB against 230).
    Under one interpreter lock the threads rarely allocate at the same time, so sharing costs
    little waiting. An operator's own MALLOC_ARENA_MAX (or GLIBC_TUNABLES) wins; another C library
    (musl, macOS, Windows) is left as it is."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return False
    return mallopt(M_ARENA_MAX, arenas) == 1


@functools.cache
def pipeline() -> ModuleType:
    """The sync pipeline, imported on the first message. What the import allocates (the client
    libraries: ~70k objects) lives as long as the process, so it is frozen out of the garbage
    collector's sight: full collections then scan only what the runs allocate."""
    cap_malloc_arenas()  # before the import's and the run's threads (functions/main.py does at load)
    from ingestion.run import pipeline as module

    gc.freeze()
    # A sync allocates millions of short-lived, acyclic JSON trees that reference counting frees;
    # collecting every 700 allocations mostly rescans the pages waiting in flight. Every 20,000
    # keeps cycles (rare here) bounded and takes the collector from ~0.25 s to ~0.01 s per 100k
    # records (`python -m bench`).
    gc.set_threshold(20_000, 20, 20)
    return module


def handle_pubsub_envelope(envelope: Any, settings: Settings | None = None,
                           now: datetime | None = None) -> RunRow | None:
    """`envelope` is the CloudEvent data of a Pub/Sub push: {"message": {...}, "subscription": ...}.
    Returns the run row, or None when the message was rejected or failed permanently (acked).
    `now` stands in for the clock (simulated APIs in tests)."""
    settings = settings or Settings.from_env()
    with log_context(message_id=message_id_of(envelope)):
        try:
            request = request_from_envelope(envelope)
        except PayloadError as exc:
            log.error("rejected trigger message (acknowledged, nothing synced): %s", exc)
            record_rejected_message(envelope, exc, settings)
            return None
        with log_context(entity=request.entity, run_id=request.run_id, sync_mode=request.mode):
            return sync_and_decide(request, settings, now)


def sync_and_decide(request: SyncRequest, settings: Settings, now: datetime | None) -> RunRow | None:
    """The one place that decides: acknowledge (return) or have Pub/Sub redeliver (raise)."""
    try:
        return pipeline().run_sync(request, settings, now)
    except LeaseHeld as exc:
        log.warning("%s: deferred, Pub/Sub redelivers it: %s", request.entity, exc,
                    extra={"status": "deferred"})
        redact_exception(exc)
        raise
    except Exception as exc:
        if is_retryable(exc):
            log.exception("%s: sync failed, will be redelivered: %s: %s", request.entity,
                          type(exc).__name__, exc, extra={"status": "retry"})
            redact_exception(exc)  # the runtime prints it, with its chain, through no filter
            raise
        log.error("%s: sync failed permanently (acknowledged): %s: %s", request.entity,
                  type(exc).__name__, exc, extra={"status": "failed"})
        return None


def record_rejected_message(envelope: Any, exc: PayloadError, settings: Settings) -> None:
    """A failed run row for a message that could not be read, naming its entity if it had one. A
    rejected continuation or parallel part (one naming a `job`) also fails that job, loudly: the
    job could never finish otherwise, and nothing else would tell."""
    from ingestion.warehouse.ledger import RunRow

    message_id = message_id_of(envelope)
    try:
        payload = decode_message_data(envelope["message"].get("data"))
    except Exception:
        payload = {}
    entity = str(payload.get("entity", "(unreadable message)"))[:200]
    job = payload.get("job") if isinstance(payload.get("job"), str) else None
    if job and not (ENTITY_NAME.fullmatch(entity) and JOB_ID.fullmatch(job)):
        job = None  # not a name this product writes: no such job to fail
    row = RunRow(run_id=SyncRequest(entity, "", message_id=message_id).run_id, entity=entity,
                 sync_mode=None, message_id=message_id or None, job_id=job, status="failed",
                 error_class=type(exc).__name__, error_message=str(exc)[:4000],
                 finished_at=datetime.now(UTC))
    if job:
        log.error("%s: a follow-up message of job %s was rejected: %s", entity, job, exc)
        pipeline().fail_job(settings, entity, job, f"{type(exc).__name__}: {exc}")
    pipeline().record_run(row, settings)
