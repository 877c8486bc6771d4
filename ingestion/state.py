"""Watermark state: one JSON object per entity in GCS, written with generation preconditions.

The watermark is the newest cursor value among merged records (never the wall clock), and it only
moves forward: a concurrent writer makes the precondition fail, and the write is retried on top of
what that writer stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from google.api_core.exceptions import PreconditionFailed

from ingestion.config import EntityConfig
from ingestion.dates import parse_instant, to_rfc3339
from ingestion.errors import RetryableError
from utils import gcs_helper


def state_path(entity: EntityConfig, item: Any = None) -> str:
    """`state/<source>/<entity>.json`, or per fan-out item `state/<source>/<entity>/<item>.json`."""
    if item is None:
        return f"state/{entity.name}.json"
    return f"state/{entity.name}/{quote(str(item), safe='')}.json"


def read_state(entity: EntityConfig, bucket: str, item: Any = None) -> tuple[dict, int]:
    data, generation = gcs_helper.read(bucket, state_path(entity, item))
    return (json.loads(data) if data else {}), generation


def read_watermark(entity: EntityConfig, bucket: str, item: Any = None) -> datetime | None:
    state, _ = read_state(entity, bucket, item)
    return parse_instant(state["watermark"]) if state.get("watermark") else None


def commit_watermark(entity: EntityConfig, bucket: str, candidate: datetime, run_id: str,
                     item: Any = None, attempts: int = 5) -> datetime:
    """Advance the watermark to `candidate` unless it is already further; returns the stored value."""
    for _ in range(attempts):
        state, generation = read_state(entity, bucket, item)
        current = parse_instant(state["watermark"]) if state.get("watermark") else None
        if current and current >= candidate:
            return current
        new_state = {"entity": entity.name, "item": item, "cursor_field": entity.cursor_field,
                     "watermark": to_rfc3339(candidate), "run_id": run_id,
                     "updated_at": to_rfc3339(datetime.now(UTC))}
        try:
            gcs_helper.upload(bucket, state_path(entity, item), json.dumps(new_state, indent=1),
                              "application/json", if_generation_match=generation)
            return candidate
        except PreconditionFailed:
            continue  # someone else wrote meanwhile: re-read and try again on top of it
    raise RetryableError(f"could not update the watermark after {attempts} concurrent-write retries")
