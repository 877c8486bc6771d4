"""Steps: a job's slices are worked through in steps, each one atomic and checkpointed.

A step extracts one or more whole windows into GCS, loads them into a staging table, MERGEs them,
commits each item's state (watermark and covered windows) and only then marks its slices done in
the job. A crash anywhere in a step leaves the slices pending: the redelivery redoes the step, and
the MERGE makes that harmless. A step closes after `step_records` records or when the time budget
is spent; then the run checkpoints and, if windows remain, the caller continues in a new message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.settings import Settings
from ingestion.model import Job, JobSlice, Page, Slice
from ingestion.planning.jobs import update_job
from ingestion.planning.state import commit_state
from ingestion.rows.cursor import past_the_slice, record_filter
from ingestion.rows.newfields import add_new_columns
from ingestion.rows.stage import StagedRun, check_rejects, stage_pages
from ingestion.run.clock import RunClock
from ingestion.source.extract import TombstonePage, slice_pages
from ingestion.source.fetch import Fetcher
from ingestion.source.readahead import InOrder, Sleep, SliceReader
from ingestion.warehouse.children import merge_children
from ingestion.warehouse.ledger import RunRow
from ingestion.warehouse.load import (
    EarlyLoads,
    drop_staging,
    load_staging,
    merge_into_target,
)
from ingestion.warehouse.newcolumns import with_added_columns
from utils.parallel import map_in_threads

log = logging.getLogger("ingestion.run.steps")


@dataclass
class Step:
    """What every step of a run shares."""

    entity: EntityConfig
    settings: Settings
    row: RunRow
    target: str
    fetcher: Callable[[], Fetcher] | None
    clock: RunClock
    progress: Callable[[Page], None] | None = None  # told of every page fetched (the `run` command)


def run_steps(step: Step, job: Job, pending: list[JobSlice]) -> Job:
    """Work through `pending` until done or out of time; returns the job as last checkpointed."""
    queue, number = list(pending), 0
    full = job.mode == "historical_full"
    step.entity = with_added_columns(step.entity, step.target)  # read like the schema JSON's columns
    keep = record_filter(step.entity, full)
    with read_ahead(step, queue, past_the_slice(step.entity, full)) as reader:
        while queue and not (number and step.clock.out_of_time()):
            number += 1
            taken: list[JobSlice] = []
            loads = early_loads(step)
            try:
                with closing(step_pages(step, reader, queue, taken)) as pages:
                    staged = stage_pages(pages, step.entity, step.row.run_id, step.settings.bucket,
                                         step=number, rejected_before=step.row.rejected, keep=keep,
                                         on_part=loads and loads.add)
                newest = merge_staged(step, staged, job, loads)
            finally:
                if loads:
                    loads.abandon()  # after a failure: load nothing more (a no-op once finished)
            job = commit_step(step, job, taken, newest, staged.rejects)
    return job


def read_ahead(step: Step, queue: list[JobSlice],
               done: Callable[[Page], bool] | None) -> InOrder | SliceReader:
    """The run's slices read in parallel ahead of the steps (ingestion/source/readahead.py):
    `http.max_concurrency` at a time, or `async_job.max_jobs_in_flight` when each waits for a
    report job. A sorted feed's walk ends after a page that `done` says lies wholly beyond its
    slice, so no request is sent past it."""
    entity, fetcher = step.entity, step.fetcher()  # one fetcher, made here: its threads share it
    job = entity.async_job
    lookahead = entity.http.max_concurrency if job is None else job.max_jobs_in_flight
    slices = [piece.slice for piece in queue]

    def read(piece: Slice, sleep: Sleep) -> Iterator[Page]:
        return slice_pages(entity, piece, fetcher, done, sleep)

    if lookahead == 1 or len(slices) == 1:  # nothing to overlap: no threads, no hand-over per page
        return InOrder(slices, read)
    return SliceReader(slices, read, lookahead)


def step_pages(step: Step, reader: InOrder | SliceReader, queue: list[JobSlice],
               taken: list[JobSlice]) -> Iterator[Page]:
    """Pages of whole slices taken from the front of `queue` (and of the reader, in the same
    order) while the step has room: at least one slice, then more until `step_records` records
    or the time budget is spent. Pages are numbered across the run as they are taken."""
    records = count = 0
    while queue and not (taken and (records >= step.settings.step_records or step.clock.out_of_time())):
        piece = queue.pop(0)
        _, pages = reader.next()
        taken.append(piece)
        widen_row_window(step.row, piece)
        with closing(pages):
            for page in pages:
                count += 1
                page.number = step.row.pages + count
                if not isinstance(page, TombstonePage):
                    records += len(page.records)
                if step.progress:
                    step.progress(page)
                yield page


def widen_row_window(row: RunRow, piece: JobSlice) -> None:
    row.window_start = min(row.window_start or piece.window.start, piece.window.start)
    row.window_end = max(row.window_end or piece.window.end, piece.window.end)


def early_loads(step: Step) -> EarlyLoads | None:
    """Load while extracting (ingestion/warehouse/load.py), unless the step may add columns: its
    rows are then loaded once the table has them."""
    if step.entity.schema.on_new_field == "add_column":
        return None
    return EarlyLoads(step.entity, step.settings, step.row.run_id)


def merge_staged(step: Step, staged: StagedRun, job: Job | None,
                 loads: EarlyLoads | None = None) -> dict[str | None, Any]:
    """Count the step into the run row, enforce the reject limit, then load (or finish loading)
    and MERGE; returns the newest cursor merged per item (text; None without fan-out)."""
    row, entity = step.row, step.entity
    rejected_before = row.rejected
    row.pages += staged.pages
    row.records += staged.records
    row.bytes += staged.bytes
    row.rejected += staged.rejects
    row.filtered += staged.filtered
    report_unknown_fields(step, staged)
    check_rejects(entity, staged, rejected_before)
    if not staged.records and not staged.tombstones:
        return {}
    entity = add_columns_for_new_fields(step, staged)
    staging = (loads and loads.finish()) or load_staging(entity, step.settings, row.run_id, staged.uri)
    # children first: a reader never sees a parent without its children
    merge_children(entity, step.settings, row.run_id, staging, step.target, staged.child_uris,
                   staged.child_rows)
    # the newest cursors were found as the rows were staged: the MERGE is the step's one query
    row.rows_merged += merge_into_target(entity, step.settings, step.target, staging, job)
    drop_staging(staging)
    return staged.newest


def commit_step(step: Step, job: Job, taken: list[JobSlice], newest: dict, rejected: int) -> Job:
    """After the MERGE: each item's state, then the job's checkpoint (the slices are done)."""
    row = step.row

    def commit(item: Any) -> Any:
        windows = [piece.window for piece in taken if piece.item == item]
        candidate = newest.get(None if item is None else str(item))
        return commit_state(step.entity, step.settings.bucket, item, windows, candidate, row.run_id)

    # each item's state is an object of its own: fifty accounts' commits go out sixteen at a time
    for watermark in map_in_threads(commit, dict.fromkeys(piece.item for piece in taken), workers=16):
        if watermark is not None:
            row.note_watermark(watermark)
    done = {(p.item, p.window) for p in taken}

    def mark_done(j: Job) -> None:
        for piece in j.slices:
            if (piece.item, piece.window) in done and piece.done_by is None:
                piece.done_by = row.run_id
        j.rejected += rejected
        if row.run_id not in j.runs:
            j.runs.append(row.run_id)

    job = update_job(step.settings.bucket, job, mark_done)
    log.info("checkpoint: %d window(s) committed, %d left in the job", len(taken), len(job.pending()))
    return job


def add_columns_for_new_fields(step: Step, staged: StagedRun) -> EntityConfig:
    """schema.on_new_field add_column: the step's new fields become columns of the target before
    it loads them (and are read as such by the run's later steps); the run row lists the columns,
    and no longer lists them as unknown (an earlier step may have seen them null only)."""
    if staged.new_fields:
        step.entity, added = add_new_columns(step.entity, step.settings, staged.new_fields, staged.uri,
                                             step.row.run_id)
        loaded = {column["name"] for column in staged.new_fields}
        unknown = [f for f in (step.row.unknown_fields or "").split(", ") if f and f not in loaded]
        step.row.unknown_fields = ", ".join(unknown) or None
        if added:
            names = [f"{c['name']} {c['type']}" for c in added]
            before = step.row.added_columns
            step.row.added_columns = ", ".join([before, *names] if before else names)[:1000]
            log.warning("records carry new fields: added the column(s) %s to %s (scaffold --update "
                        "writes them into the schema JSON)", ", ".join(names), step.target)
    return step.entity


def report_unknown_fields(step: Step, staged: StagedRun) -> None:
    """Fields the API sends that no column reads: the first sign of an API adding data (add the
    column to the schema JSON to load it; with target.raw_json it is already kept in `_raw`)."""
    if staged.unknown_fields:
        known = set(filter(None, (step.row.unknown_fields or "").split(", ")))
        step.row.unknown_fields = ", ".join(sorted(known | staged.unknown_fields))[:1000]
        log.warning("records carry fields no column reads: %s", step.row.unknown_fields)
