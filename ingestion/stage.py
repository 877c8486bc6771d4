"""Stage pages to GCS: each raw page as received (secret values echoed by the API scrubbed), and its
records as NDJSON rows for the load job.

Object paths name the source, entity, run and page. A run is one delivery attempt, so attempts of
the same message never overwrite or mix with each other's pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingestion import logs
from ingestion.config import EntityConfig
from ingestion.dates import to_rfc3339
from ingestion.extract import Page
from ingestion.records import project
from utils import gcs_helper


@dataclass
class StagedRun:
    uri: str  # wildcard over the run's NDJSON parts: one load-job source, whatever the page count
    pages: int = 0
    records: int = 0
    bytes: int = 0


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


def stage_pages(pages: Iterable[Page], entity: EntityConfig, run_id: str, bucket: str) -> StagedRun:
    raw_prefix, staged_prefix = run_prefix("raw", entity, run_id), run_prefix("staged", entity, run_id)
    staged = StagedRun(gcs_helper.uri(bucket, f"{staged_prefix}/part-*.jsonl"))
    suffix, content_type = raw_suffix(entity.records)
    compressed = entity.records.get("compression", "none") != "none"
    seq = 0
    for page in pages:
        response = page.response
        metadata = {
            "url": response.url, "status": str(response.status), "fetched_at": to_rfc3339(page.fetched_at),
            "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end),
        }
        if page.slice.item is not None:
            metadata["item"] = str(page.slice.item)
        content = response.content if compressed else logs.scrub(response.content)
        gcs_helper.upload(bucket, f"{raw_prefix}/page-{page.number:06d}{suffix}", content,
                          content_type, metadata=metadata)
        staged.pages += 1
        staged.bytes += len(response.content)
        computed = computed_values(entity, page, run_id)
        lines = []
        for index, record in enumerate(page.records):
            seq += 1
            row = project(record, entity.columns, entity.records, computed, entity.required_columns,
                          f"page {page.number} record {index}")
            row["_seq"] = seq
            lines.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
        if lines:
            gcs_helper.upload(bucket, f"{staged_prefix}/part-{page.number:06d}.jsonl",
                              "\n".join(lines) + "\n", "application/x-ndjson")
            staged.records += len(lines)
    return staged


def computed_values(entity: EntityConfig, page: Page, run_id: str) -> dict[str, Any]:
    """The loader's metadata columns, the fan-out item's column, and `records.computed` columns."""
    known = {"run_id": run_id, "extracted_at": to_rfc3339(page.fetched_at), "item": page.slice.item,
             "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end)}
    values = {column: known[source] for column, source in entity.records.get("computed", {}).items()}
    if entity.fan_out:
        values[entity.fan_out["column"]] = page.slice.item
    values.update(_run_id=run_id, _extracted_at=known["extracted_at"])
    return values
