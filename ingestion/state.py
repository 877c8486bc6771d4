"""Sync state: one JSON object per entity (and per fan-out item) in GCS, written with generation
preconditions so concurrent writers never lose each other's updates.

- `watermark`: the newest cursor value among merged records (never the wall clock). It only moves
  forward, and only when everything between it and the new value has been loaded.
- `covered`: the windows loaded so far, coalesced into disjoint [start, end) intervals. It is what
  decides whether a backfill may move the watermark, and what `gaps` reports holes in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from google.api_core.exceptions import PreconditionFailed

from ingestion.config import EntityConfig
from ingestion.dates import parse_instant, to_rfc3339
from ingestion.errors import RetryableError
from ingestion.windows import Window
from utils import gcs_helper

log = logging.getLogger("ingestion.state")


@dataclass
class State:
    watermark: datetime | None = None
    covered: list[Window] = field(default_factory=list)
    generation: int = 0  # of the object read; 0 = it does not exist yet

    @classmethod
    def parse(cls, data: bytes | None, generation: int) -> State:
        stored = json.loads(data) if data else {}
        watermark = parse_instant(stored["watermark"]) if stored.get("watermark") else None
        covered = [Window(parse_instant(a), parse_instant(b)) for a, b in stored.get("covered", [])]
        return cls(watermark, covered, generation)


def state_path(entity: EntityConfig, item: Any = None) -> str:
    """`state/<source>/<entity>.json`, or per fan-out item `state/<source>/<entity>/<item>.json`."""
    if item is None:
        return f"state/{entity.name}.json"
    return f"state/{entity.name}/{quote(str(item), safe='')}.json"


def read_state(entity: EntityConfig, bucket: str, item: Any = None) -> State:
    return State.parse(*gcs_helper.read(bucket, state_path(entity, item)))


def read_watermark(entity: EntityConfig, bucket: str, item: Any = None) -> datetime | None:
    return read_state(entity, bucket, item).watermark


def coalesce(windows: list[Window]) -> list[Window]:
    """Sorted, with overlapping or touching windows merged."""
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1].end:
            merged[-1] = Window(merged[-1].start, max(merged[-1].end, window.end))
        else:
            merged.append(window)
    return merged


def next_watermark(entity: EntityConfig, state: State, windows: list[Window],
                   candidate: datetime | None) -> datetime | None:
    """Where the watermark goes once `windows` are loaded and their newest cursor is `candidate`.

    A cursor past the loaded windows (a bogus far-future date, or a record changed while it was
    being fetched) is capped at their end: the API was only asked up to there. The watermark only
    moves when the loaded stretch reaches back to it (or to the start date), so a backfill after
    a gap never lets incremental runs skip the gap."""
    if candidate is None:
        return state.watermark
    loaded_until = max(w.end for w in windows)
    if candidate > loaded_until:
        log.warning("newest cursor %s lies beyond the loaded windows (up to %s): the watermark "
                    "stops at %s", to_rfc3339(candidate), to_rfc3339(loaded_until),
                    to_rfc3339(loaded_until), extra={"entity": entity.name})
        candidate = loaded_until
    if state.watermark and candidate <= state.watermark:
        return state.watermark
    base = state.watermark or entity.start_date
    stretch = next(w for w in coalesce(state.covered + windows) if w.start <= windows[-1].start < w.end)
    return candidate if stretch.start <= base else state.watermark


def commit_state(entity: EntityConfig, bucket: str, item: Any, windows: list[Window],
                 candidate: datetime | None, run_id: str, attempts: int = 8) -> datetime | None:
    """Record `windows` as loaded and move the watermark (see `next_watermark`); returns the
    watermark now stored. Call only after the MERGE committed."""
    for _ in range(attempts):
        state = read_state(entity, bucket, item)
        watermark = next_watermark(entity, state, windows, candidate)
        stored = {"entity": entity.name, "item": item, "cursor_field": entity.cursor_field,
                  "watermark": to_rfc3339(watermark) if watermark else None,
                  "covered": [[to_rfc3339(w.start), to_rfc3339(w.end)]
                              for w in coalesce(state.covered + windows)],
                  "run_id": run_id, "updated_at": to_rfc3339(datetime.now(UTC))}
        try:
            gcs_helper.upload(bucket, state_path(entity, item), json.dumps(stored, indent=1),
                              "application/json", if_generation_match=state.generation)
            return watermark
        except PreconditionFailed:
            continue  # someone else wrote meanwhile: re-read and apply ours on top of theirs
    raise RetryableError(f"could not update the state after {attempts} concurrent-write retries")


def item_states(entity: EntityConfig, bucket: str) -> dict[Any, State]:
    """Every stored state of the entity: key None without fan-out, else the item (as text)."""
    states = {}
    for path in gcs_helper.list_paths(bucket, f"state/{entity.name}"):
        if path == state_path(entity):
            states[None] = read_state(entity, bucket)
        elif path.startswith(f"state/{entity.name}/") and path.endswith(".json"):
            data, generation = gcs_helper.read(bucket, path)
            item = json.loads(data).get("item") if data else None
            states[item] = State.parse(data, generation)
    return states
