"""One sync, top-down: payload → plan windows → extract pages → stage to GCS → load → merge →
commit state and run row. Each step is a function of its own module; this file only sequences them."""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import UTC, datetime

import requests

from ingestion.auth import make_authenticator
from ingestion.config import EntityConfig, load_entity
from ingestion.errors import PayloadError
from ingestion.extract import Slice, extract_pages
from ingestion.fanout import resolve_items
from ingestion.fetch import Fetcher, open_session, timeouts
from ingestion.ledger import RunRow, append_run
from ingestion.load import drop_staging, ensure_target_table, load_staging, max_cursors, merge_into_target
from ingestion.payload import SyncRequest
from ingestion.replay import replay_pages
from ingestion.settings import Settings
from ingestion.stage import StagedRun, check_rejects, stage_pages
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
    log.info("sync succeeded: %d pages, %d records, %d rejected, %d rows merged, watermark %s",
             row.pages, row.records, row.rejects, row.rows_merged, row.watermark or "unchanged",
             extra=context)
    return row


def sync(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
         now: datetime) -> None:
    target = ensure_target_table(entity, settings)  # schema problems fail here, before any fetch
    if request.mode == "replay":
        plans, watermarks, staged = {}, {}, restage_raw_pages(entity, request, settings, row)
    else:
        plans, watermarks, staged = extract_and_stage(entity, request, settings, row, now)
    if staged is None:
        return
    row.pages, row.records, row.bytes, row.rejects = (staged.pages, staged.records, staged.bytes,
                                                      staged.rejects)
    report_unknown_fields(entity, staged, row)
    check_rejects(entity, staged)
    if not staged.records:
        return

    staging = load_staging(entity, settings, row.run_id, staged.uri)
    row.rows_merged = merge_into_target(entity, target, staging)
    newest = max_cursors(entity, staging)
    drop_staging(staging)
    commit_watermarks(entity, request, settings, row, plans, watermarks, newest)


def extract_and_stage(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
                      now: datetime) -> tuple[dict, dict, StagedRun | None]:
    """Plan each item's windows from its watermark, then page through the API into GCS.
    Returns (windows per item, watermarks per item, what was staged: None when nothing to do)."""
    with open_session(entity.http) as session:
        fetcher = connect(entity, settings, session)
        items = resolve_items(entity, settings, fetcher)
        watermarks = {item: read_watermark(entity, settings.bucket, item) for item in items}
        plans = {item: plan_windows(entity, request, watermarks[item], now) for item in items}
        slices = [Slice(item, window) for item, windows in plans.items() for window in windows]
        if not slices:
            log.info("nothing to sync: the window is empty", extra={"entity": entity.name})
            return plans, watermarks, None
        row.window_start = min(s.window.start for s in slices)
        row.window_end = max(s.window.end for s in slices)
        log.info("sync %s %s → %s in %d slice(s) over %d item(s)", request.mode, row.window_start,
                 row.window_end, len(slices), len(items), extra={"entity": entity.name, "run_id": row.run_id})
        # closing(): when staging stops early (too many rejects), pending fetches end here, while
        # the session is still open
        with closing(extract_pages(entity, slices, fetcher)) as pages:
            return plans, watermarks, stage_pages(pages, entity, row.run_id, settings.bucket)


def report_unknown_fields(entity: EntityConfig, staged: StagedRun, row: RunRow) -> None:
    """Fields the API sends that no column reads: the first sign of an API adding data (add the
    column to the schema JSON to load it; with target.raw_json it is already kept in `_raw`)."""
    if staged.unknown_fields:
        row.unknown_fields = ", ".join(sorted(staged.unknown_fields))[:1000]
        log.warning("records carry fields no column reads: %s", row.unknown_fields,
                    extra={"entity": entity.name, "run_id": row.run_id})


def restage_raw_pages(entity: EntityConfig, request: SyncRequest, settings: Settings,
                      row: RunRow) -> StagedRun:
    """Replay: stage the raw pages already in GCS (those overlapping the message's window, if
    any) instead of calling the API."""
    row.window_start, row.window_end = request.start, request.end
    pages = replay_pages(entity, settings.bucket, request.start, request.end)
    return stage_pages(pages, entity, row.run_id, settings.bucket)


def commit_watermarks(entity: EntityConfig, request: SyncRequest, settings: Settings, row: RunRow,
                      plans: dict, watermarks: dict, newest: dict) -> None:
    """Move each item's watermark to the newest cursor merged for it (a replay plans nothing, so
    it never moves one)."""
    for item, windows in plans.items():
        candidate = newest.get(None if item is None else str(item))
        if candidate and windows and advances_watermark(request, windows, watermarks[item]):
            committed = commit_watermark(entity, settings.bucket, candidate, row.run_id, item)
            row.watermark = max(row.watermark or committed, committed)


def connect(entity: EntityConfig, settings: Settings, session: requests.Session) -> Fetcher:
    """The entity's authenticated fetcher over the run's single HTTP session."""
    auth = make_authenticator(entity.auth, settings.project, session, entity.spec["base_url"],
                              timeouts(entity.http))
    return Fetcher(entity.source, entity.http, entity.records, session, auth)


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
