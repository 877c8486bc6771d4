"""Stage pages to GCS: each raw page as received (secret values echoed by the API scrubbed), several
to an object (ingestion/rows/rawpages.py), its records coerced to the table schema as NDJSON rows
for the load job, and the records that cannot be loaded as rejects, each with its reason.

Object paths name the kind, source, entity, run and (first) page. A run is one delivery attempt, so
attempts of the same message never overwrite or mix with each other's objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ingestion.contract import logs
from ingestion.contract.config import EntityConfig
from ingestion.contract.errors import RecordError
from ingestion.contract.redact import redact
from ingestion.contract.sections import RecordsSpec
from ingestion.model import Page, Slice
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.children import ChildRows
from ingestion.rows.cursor import NewestCursors
from ingestion.rows.deletes import TombstoneRows
from ingestion.rows.filters import with_record_filters
from ingestion.rows.newfields import NewFields
from ingestion.rows.rawpages import RawBatch, page_metadata
from ingestion.source import jsoncodec
from ingestion.source.extract import TombstonePage
from ingestion.source.records import response_format
from utils import gcs_helper

NDJSON = "application/x-ndjson"
PART_BYTES = 4 * 2**20  # staged NDJSON object size: under the client's 8 MiB one-request upload


@dataclass
class StagedRun:
    uri: str  # wildcard over the run's NDJSON parts: one load-job source, whatever the page count
    rejects_prefix: str
    pages: int = 0
    records: int = 0
    bytes: int = 0
    rejects: int = 0
    filtered: int = 0  # left out on purpose (records.filters, incremental.client_filter)
    tombstones: int = 0  # rows of deletes.endpoint: deleted keys, not records
    first_reject: str | None = None
    unknown_fields: set[str] = field(default_factory=set)  # top-level keys no column reads
    child_uris: dict[str, str] = field(default_factory=dict)  # `children` name → wildcard over its parts
    child_rows: dict[str, int] = field(default_factory=dict)  # `children` name → rows staged
    new_fields: list[dict] = field(default_factory=list)  # columns they need (schema.on_new_field add_column)
    newest: dict[str | None, Any] = field(default_factory=dict)  # per item: the next watermarks


def run_prefix(kind: str, entity: EntityConfig, run_id: str) -> str:
    return f"{kind}/{entity.name}/{run_id}"


def raw_suffix(records: RecordsSpec) -> tuple[str, str]:
    """(file suffix, content type) of a raw page's body: a batch of raw pages is named with the
    suffix, so what it holds stays recognisable (a .zip holds zipped exports)."""
    if records.compression == "zip":
        return ".zip", "application/zip"
    body = response_format(records)
    if records.compression == "gzip":
        return body.suffix + ".gz", "application/gzip"
    return body.suffix, body.content_type


def stage_pages(pages: Iterable[Page], entity: EntityConfig, run_id: str, bucket: str,
                step: int = 1, rejected_before: int = 0,
                keep: Callable[[Any, Slice], bool] | None = None,
                on_part: Callable[[Future, str, int], None] | None = None) -> StagedRun:
    """Stage every page of one step; stops reading pages (and so calling the API) as soon as the
    run's rejects exceed `records.max_rejects` — the caller then fails the run, loading nothing
    more. Each step's NDJSON parts get their own folder: one load job per step. Uploads run in
    the background while the next pages are read; all of them are done when this returns.
    `keep` (ingestion/rows/cursor.py) leaves out records outside their slice and `records.filters`
    (ingestion/rows/filters.py) those not wanted, counted in `filtered`. `on_part(upload, uri, size)` is
    told of every NDJSON part of the records as its upload starts (load while extracting)."""
    parts = f"{run_prefix('staged', entity, run_id)}/step-{step:03d}"
    rejects_prefix = run_prefix("rejects", entity, run_id)
    staged = StagedRun(gcs_helper.uri(bucket, f"{parts}/part-*.jsonl"),
                       gcs_helper.uri(bucket, rejects_prefix + "/"))
    rows_of, children = RowBuilder.for_entity(entity), ChildRows.for_entity(entity)
    tombstones = TombstoneRows.for_entity(entity) if entity.deletes and entity.deletes.endpoint else None
    staged.child_uris = {c.name: gcs_helper.uri(bucket, f"{parts}/{c.name}/part-*.jsonl")
                         for c in entity.children}
    staged.child_rows = dict.fromkeys(staged.child_uris, 0)
    keep, new = with_record_filters(entity, keep), NewFields.for_entity(entity, rows_of.known)
    newest = NewestCursors.for_entity(entity)
    with gcs_helper.ParallelUploads() as uploads:
        writer = PartWriter(uploads, bucket, parts, on_part)
        raw = RawBatch(uploads, bucket, run_prefix("raw", entity, run_id), raw_suffix(entity.records)[0])
        child_writers = {name: PartWriter(uploads, bucket, f"{parts}/{name}") for name in staged.child_uris}
        for page in pages:
            if page.source is None:
                page.source, page.run_id = store_raw_page(page, entity, raw), run_id
            staged.pages += 1
            staged.bytes += len(page.response.content)
            first_seq = staged.records + staged.rejects + staged.filtered + staged.tombstones
            if isinstance(page, TombstonePage):
                rows, rejects = tombstones.rows(page, first_seq)
                staged.tombstones += len(rows)
            else:
                rows, rejects, filtered = page_rows(page, entity, rows_of, keep=keep, carry=new and new.carry,
                                                    first_seq=first_seq, children=children)
                staged.records += len(rows)
                staged.filtered += filtered
                staged.unknown_fields |= rows_of.unknown_keys(page.records)
            if newest is not None:
                newest.add(rows)
            writer.add(rows, page.number)
            for name, child_rows in (children.take() if children else {}).items():
                child_writers[name].add(child_rows, page.number)
                staged.child_rows[name] += len(child_rows)
            if rejects:
                uploads.submit(bucket, f"{rejects_prefix}/page-{page.number:06d}.jsonl",
                               redact(jsoncodec.dumps_lines(rejects).decode()), NDJSON)
            staged.rejects += len(rejects)
            if rejects and staged.first_reject is None:
                first = rejects[0]
                staged.first_reject = f"{first['source_object']} record {first['index']}: {first['reason']}"
            if rejected_before + staged.rejects > entity.records.max_rejects:
                break
        for each in (raw, writer, *child_writers.values()):  # a step's rows name only pages written
            each.flush()
    staged.newest = newest.found if newest is not None else {}
    if new is not None:  # carried into the rows, loaded once their columns exist (run/steps.py)
        staged.new_fields = new.fields()
        staged.unknown_fields -= {column["name"] for column in staged.new_fields}
    return staged


class PartWriter:
    """Rows as NDJSON objects of about PART_BYTES each (named after their first page): a few
    large objects load faster, and cost fewer GCS writes, than one per page."""

    def __init__(self, uploads: gcs_helper.ParallelUploads, bucket: str, prefix: str,
                 on_part: Callable[[Future, str, int], None] | None = None):
        self.uploads, self.bucket, self.prefix, self.on_part = uploads, bucket, prefix, on_part
        self.chunks: list[bytes] = []
        self.size = self.first_page = 0

    def add(self, rows: list[dict], page_number: int) -> None:
        if not rows:
            return
        if not self.chunks:
            self.first_page = page_number
        self.chunks.append(jsoncodec.dumps_lines(rows))
        self.size += len(self.chunks[-1])
        if self.size >= PART_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.chunks:
            # the rows let go before `submit`, which may wait for a free upload: else a run
            # blocked on GCS holds every part twice
            path = f"{self.prefix}/part-{self.first_page:06d}.jsonl"
            data, size, self.chunks, self.size = b"".join(self.chunks), self.size, [], 0
            upload = self.uploads.submit(self.bucket, path, data, NDJSON)
            if self.on_part:
                self.on_part(upload, gcs_helper.uri(self.bucket, path), size)


def check_rejects(entity: EntityConfig, staged: StagedRun, rejected_before: int = 0) -> None:
    total = rejected_before + staged.rejects
    if total > entity.records.max_rejects:
        raise RecordError(
            f"{total} record(s) could not be loaded, more than records.max_rejects="
            f"{entity.records.max_rejects}; nothing of this step was loaded. First: {staged.first_reject}. "
            f"All rejects, with their reasons: {staged.rejects_prefix}")


def store_raw_page(page: Page, entity: EntityConfig, raw: RawBatch) -> str:
    """Add the page as received (secrets scrubbed unless compressed) to the step's raw batch;
    returns its lineage URI (ingestion/rows/rawpages.py)."""
    compressed = entity.records.compression != "none"
    content = page.response.content if compressed else logs.scrub(page.response.content)
    return raw.add(page, content, page_metadata(page))
