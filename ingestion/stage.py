"""Stage pages to GCS: each raw page as received, and its records as NDJSON rows for the load job.

Object paths name the source, entity, run and page. A run is one delivery attempt, so attempts of
the same message never overwrite or mix with each other's pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingestion.config import EntityConfig
from ingestion.dates import to_rfc3339
from ingestion.errors import RecordError
from ingestion.extract import Page
from utils import gcs_helper


@dataclass
class StagedRun:
    uri: str  # wildcard over the run's NDJSON parts: one load-job source, whatever the page count
    pages: int = 0
    records: int = 0
    bytes: int = 0


def run_prefix(kind: str, entity: EntityConfig, run_id: str) -> str:
    return f"{kind}/{entity.name}/{run_id}"


def stage_pages(pages: Iterable[Page], entity: EntityConfig, run_id: str, bucket: str) -> StagedRun:
    raw_prefix, staged_prefix = run_prefix("raw", entity, run_id), run_prefix("staged", entity, run_id)
    staged = StagedRun(gcs_helper.uri(bucket, f"{staged_prefix}/part-*.jsonl"))
    seq = 0
    for page in pages:
        metadata = {
            "url": page.url, "status": str(page.status), "fetched_at": to_rfc3339(page.fetched_at),
            "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end),
        }
        gcs_helper.upload(bucket, f"{raw_prefix}/page-{page.number:06d}.json", page.content,
                          "application/json", metadata=metadata)
        staged.pages += 1
        staged.bytes += len(page.content)
        lines = []
        for index, record in enumerate(page.records):
            seq += 1
            row = to_row(entity, record, run_id, page, seq, f"page {page.number} record {index}")
            lines.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
        if lines:
            gcs_helper.upload(bucket, f"{staged_prefix}/part-{page.number:06d}.jsonl",
                              "\n".join(lines) + "\n", "application/x-ndjson")
            staged.records += len(lines)
    return staged


def to_row(entity: EntityConfig, record: Any, run_id: str, page: Page, seq: int, where: str) -> dict:
    """Project a record onto the schema's columns and add the loader's metadata columns."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    required = entity.merge_keys + ([entity.cursor_field] if entity.cursor_field else [])
    missing = [c for c in required if record.get(c) is None]
    if missing:
        raise RecordError(f"{where}: missing {', '.join(missing)} (merge keys and cursor_field "
                          f"must be present): {json.dumps(record)[:200]}")
    row = {c: record[c] for c in entity.columns if c in record}
    row.update(_run_id=run_id, _extracted_at=to_rfc3339(page.fetched_at), _seq=seq)
    return row
