"""Stage pages to GCS: each raw page as received (secret values echoed by the API scrubbed), its
records coerced to the table schema as NDJSON rows for the load job, and the records that cannot be
loaded as rejects, each with its reason.

Object paths name the kind, source, entity, run and page. A run is one delivery attempt, so attempts
of the same message never overwrite or mix with each other's objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ingestion import logs
from ingestion.coerce import CoercionError, row_coercer
from ingestion.config import RAW_COLUMN, EntityConfig
from ingestion.dates import to_rfc3339
from ingestion.errors import RecordError
from ingestion.extract import Page
from ingestion.records import project
from utils import gcs_helper


@dataclass
class StagedRun:
    uri: str  # wildcard over the run's NDJSON parts: one load-job source, whatever the page count
    rejects_prefix: str
    pages: int = 0
    records: int = 0
    bytes: int = 0
    rejects: int = 0
    first_reject: str | None = None
    unknown_fields: set[str] = field(default_factory=set)  # top-level keys no column reads


def run_prefix(kind: str, entity: EntityConfig, run_id: str) -> str:
    return f"{kind}/{entity.name}/{run_id}"


def raw_suffix(records_spec: dict) -> tuple[str, str]:
    """(file suffix, content type) of a raw page, so a zipped export stays a valid .zip."""
    compression = records_spec.get("compression", "none")
    if compression == "zip":
        return ".zip", "application/zip"
    suffix = ".jsonl" if records_spec.get("format") == "jsonl" else ".json"
    if compression == "gzip":
        return suffix + ".gz", "application/gzip"
    return suffix, "application/x-ndjson" if suffix == ".jsonl" else "application/json"


def stage_pages(pages: Iterable[Page], entity: EntityConfig, run_id: str, bucket: str,
                step: int = 1, rejected_before: int = 0) -> StagedRun:
    """Stage every page of one step; stops reading pages (and so calling the API) as soon as the
    run's rejects exceed `records.max_rejects` — the caller then fails the run, loading nothing
    more. Each step's NDJSON parts get their own folder: one load job per step."""
    parts = f"{run_prefix('staged', entity, run_id)}/step-{step:03d}"
    staged = StagedRun(gcs_helper.uri(bucket, f"{parts}/part-*.jsonl"),
                       gcs_helper.uri(bucket, run_prefix("rejects", entity, run_id) + "/"))
    rows_of = RowBuilder.for_entity(entity)
    for page in pages:
        if page.source is None:
            page.source, page.run_id = store_raw_page(page, entity, run_id, bucket), run_id
        staged.pages += 1
        staged.bytes += len(page.response.content)
        rows, rejects = page_rows(page, entity, rows_of, first_seq=staged.records + staged.rejects)
        _write_lines(bucket, f"{parts}/part-{page.number:06d}.jsonl", rows)
        _write_lines(bucket, f"{run_prefix('rejects', entity, run_id)}/page-{page.number:06d}.jsonl", rejects)
        staged.records += len(rows)
        staged.rejects += len(rejects)
        staged.unknown_fields |= rows_of.unknown_keys(page.records)
        if rejects and staged.first_reject is None:
            first = rejects[0]
            staged.first_reject = f"{first['source_object']} record {first['index']}: {first['reason']}"
        if rejected_before + staged.rejects > entity.max_rejects:
            break
    return staged


@dataclass(frozen=True)
class RowBuilder:
    """Record → row of the target table, with everything that depends only on the entity worked
    out once per run."""

    spec: dict  # the entity's `records` settings
    columns: list[str]
    required: list[str]
    known: frozenset[str]  # top-level record keys some column reads
    keep_raw: bool
    coerce: Callable[[dict], dict]

    @classmethod
    def for_entity(cls, entity: EntityConfig) -> RowBuilder:
        paths = entity.records.get("fields", {})
        known = {c for c in entity.columns if c not in paths} | {p.split(".")[0] for p in paths.values()}
        return cls(entity.records, entity.columns, entity.required_columns, frozenset(known),
                   entity.target.get("raw_json", False), row_coercer(entity.table_fields))

    def row(self, record: Any, computed: dict[str, Any]) -> dict:
        """Raises RecordError or CoercionError (the reason of a reject)."""
        row = project(record, self.columns, self.spec, computed, self.required)
        if self.keep_raw:
            row[RAW_COLUMN["name"]] = record
        return self.coerce(row)

    def unknown_keys(self, records: list[Any]) -> set[str]:
        return {k for r in records if isinstance(r, dict) for k in r.keys() - self.known}


def check_rejects(entity: EntityConfig, staged: StagedRun, rejected_before: int = 0) -> None:
    total = rejected_before + staged.rejects
    if total > entity.max_rejects:
        raise RecordError(
            f"{total} record(s) could not be loaded, more than records.max_rejects="
            f"{entity.max_rejects}; nothing of this step was loaded. First: {staged.first_reject}. "
            f"All rejects, with their reasons: {staged.rejects_prefix}")


def store_raw_page(page: Page, entity: EntityConfig, run_id: str, bucket: str) -> str:
    """Upload the page as received (secrets scrubbed unless compressed); returns its gs:// URI."""
    response = page.response
    suffix, content_type = raw_suffix(entity.records)
    metadata = {
        "url": response.url, "status": str(response.status), "fetched_at": to_rfc3339(page.fetched_at),
        "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end),
    }
    if page.slice.item is not None:
        metadata["item"] = str(page.slice.item)
    compressed = entity.records.get("compression", "none") != "none"
    content = response.content if compressed else logs.scrub(response.content)
    path = f"{run_prefix('raw', entity, run_id)}/page-{page.number:06d}{suffix}"
    gcs_helper.upload(bucket, path, content, content_type, metadata=metadata)
    return gcs_helper.uri(bucket, path)


def page_rows(page: Page, entity: EntityConfig, rows_of: RowBuilder,
              first_seq: int) -> tuple[list[dict], list[dict]]:
    """(rows coerced to the table schema, rejects) for the page's records. `_seq` numbers rows in
    run order, so that on equal cursors the later row wins."""
    computed = computed_values(entity, page)
    rows, rejects = [], []
    for index, record in enumerate(page.records):
        try:
            row = rows_of.row(record, computed)
        except (RecordError, CoercionError) as exc:
            rejects.append({"source_object": page.source, "index": index, "reason": str(exc),
                            "record": record})
            continue
        row["_seq"] = first_seq + index + 1
        rows.append(row)
    return rows, rejects


def _write_lines(bucket: str, path: str, lines: list[dict]) -> None:
    if lines:
        text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
                       for line in lines)
        gcs_helper.upload(bucket, path, text, "application/x-ndjson")


def computed_values(entity: EntityConfig, page: Page) -> dict[str, Any]:
    """The loader's metadata columns, the fan-out item's column, and `records.computed` columns.
    They describe the run that fetched the page, so a replay reproduces them."""
    known = {"run_id": page.run_id, "extracted_at": to_rfc3339(page.fetched_at), "item": page.slice.item,
             "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end)}
    values = {column: known[source] for column, source in entity.records.get("computed", {}).items()}
    if entity.fan_out:
        values[entity.fan_out["column"]] = page.slice.item
    values.update(_run_id=page.run_id, _extracted_at=known["extracted_at"], _source_object=page.source)
    if entity.absent_rows == "soft_delete":
        values["_deleted"] = False  # a row the API serves again is live again
    return values
