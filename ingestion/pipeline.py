"""One sync, top-down: payload → plan windows → extract pages → stage to GCS → load → merge →
commit state and run row. Each step is a function of its own module; this file only sequences them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ingestion.auth import make_authenticator
from ingestion.config import EntityConfig, load_entity
from ingestion.errors import PayloadError
from ingestion.extract import extract_pages, open_session
from ingestion.ledger import RunRow, append_run
from ingestion.load import drop_staging, ensure_target_table, load_staging, max_cursor, merge_into_target
from ingestion.payload import SyncRequest
from ingestion.settings import Settings
from ingestion.stage import stage_pages
from ingestion.state import commit_watermark, read_watermark
from ingestion.windows import Window, plan_windows

log = logging.getLogger("ingestion.pipeline")


def run_sync(request: SyncRequest, settings: Settings, now: datetime | None = None) -> RunRow:
    """Run one sync and record it in the run ledger (also when it fails, unless the message itself
    was invalid: then nothing at all is written). Exceptions propagate to the caller."""
    row = RunRow(run_id=request.run_id, entity=request.entity, sync_mode=request.mode,
                 message_id=request.message_id or None, attempt=request.attempt)
    context = {"entity": request.entity, "run_id": row.run_id, "message_id": request.message_id}
    try:
        entity = load_entity(request.entity, settings.config_dir, settings.schema_dir)
        sync(entity, request, settings, row, now or datetime.now(UTC))
        row.status = "succeeded"
    except PayloadError:
        raise
    except Exception as exc:
        row.status, row.error_class = "failed", type(exc).__name__
        row.error_message = str(exc)[:4000]
        raise
    finally:
        if row.status != "running":
            row.finished_at = datetime.now(UTC)
            record_run(row, settings, context)
    log.info("sync succeeded: %d pages, %d records, %d rows merged, watermark %s",
             row.pages, row.records, row.rows_merged, row.watermark or "unchanged", extra=context)
    return row


def sync(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
         now: datetime) -> None:
    watermark = read_watermark(entity, settings.bucket)
    windows = plan_windows(entity, request, watermark, now)
    if not windows:
        log.info("nothing to sync: the window is empty", extra={"entity": entity.name})
        return
    row.window_start, row.window_end = windows[0].start, windows[-1].end
    log.info("sync %s %s → %s in %d window(s)", request.mode, row.window_start, row.window_end,
             len(windows), extra={"entity": entity.name, "run_id": row.run_id})

    auth = make_authenticator(entity.auth, settings.project)
    with open_session(entity) as session:
        staged = stage_pages(extract_pages(entity, windows, session, auth), entity, row.run_id,
                             settings.bucket)
    row.pages, row.records, row.bytes = staged.pages, staged.records, staged.bytes
    if not staged.records:
        return

    target = ensure_target_table(entity, settings)
    staging = load_staging(entity, settings, row.run_id, staged.uri)
    row.rows_merged = merge_into_target(entity, target, staging)
    newest = max_cursor(entity, staging)
    drop_staging(staging)
    if newest and advances_watermark(request, windows, watermark):
        row.watermark = commit_watermark(entity, settings.bucket, newest, row.run_id)


def advances_watermark(request: SyncRequest, windows: list[Window],
                       watermark: datetime | None) -> bool:
    """A backfill window may only move the watermark when it joins what is already loaded;
    otherwise incremental runs would skip the gap between the old watermark and the window."""
    if request.mode != "incremental_window":
        return True
    return watermark is not None and windows[0].start <= watermark


def record_run(row: RunRow, settings: Settings, context: dict) -> None:
    try:
        append_run(row, settings)
    except Exception:  # the ledger must never hide the sync's own outcome
        log.exception("could not append the run row", extra=context)
