"""Sync state: one JSON object per entity (and per fan-out item) in GCS, written with generation
preconditions so concurrent writers never lose each other's updates.

- `watermark`: the newest cursor value among merged records (never the wall clock). It only moves
  forward, and only when everything between it and the new value has been loaded.
- `covered`: the windows loaded so far, coalesced into disjoint [start, end) stretches, each with
  the newest cursor merged in it. It decides when a backfill may move the watermark (also when
  windows commit out of order), and `gaps` reports the holes between stretches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import parse_instant, to_rfc3339
from ingestion.model import Window
from ingestion.planning.store import read_json, update_json
from utils import gcs_helper

log = logging.getLogger("ingestion.planning.state")


@dataclass(frozen=True)
class Stretch:
    """Loaded windows without a hole, and the newest cursor merged in them."""

    start: datetime
    end: datetime
    newest: datetime | None = None

    def to_json(self) -> list:
        newest = to_rfc3339(self.newest) if self.newest else None
        return [to_rfc3339(self.start), to_rfc3339(self.end), newest]


@dataclass
class State:
    watermark: datetime | None = None
    covered: list[Stretch] = field(default_factory=list)

    @classmethod
    def parse(cls, stored: dict | None) -> State:
        stored = stored or {}
        watermark = parse_instant(stored["watermark"]) if stored.get("watermark") else None
        covered = [Stretch(parse_instant(a), parse_instant(b), parse_instant(n) if n else None)
                   for a, b, n in stored.get("covered", [])]
        return cls(watermark, covered)


def state_path(entity: EntityConfig, item: Any = None) -> str:
    """`state/<source>/<entity>.json`, or per fan-out item `state/<source>/<entity>/<item>.json`."""
    if item is None:
        return f"state/{entity.name}.json"
    return f"state/{entity.name}/{quote(str(item), safe='')}.json"


def read_state(entity: EntityConfig, bucket: str, item: Any = None) -> State:
    return State.parse(read_json(bucket, state_path(entity, item))[0])


def read_watermark(entity: EntityConfig, bucket: str, item: Any = None) -> datetime | None:
    return read_state(entity, bucket, item).watermark


def coalesce(stretches: list[Stretch]) -> list[Stretch]:
    """Sorted, with overlapping or touching stretches merged (keeping the newest cursor)."""
    merged: list[Stretch] = []
    for piece in sorted(stretches, key=lambda w: w.start):
        if merged and piece.start <= merged[-1].end:
            last = merged[-1]
            newest = max(filter(None, [last.newest, piece.newest]), default=None)
            merged[-1] = Stretch(last.start, max(last.end, piece.end), newest)
        else:
            merged.append(piece)
    return merged


def loaded(entity: EntityConfig, windows: list[Window], candidate: datetime | None) -> Stretch:
    """The stretch `windows` add. A cursor past them (a bogus far-future date, or a record changed
    while it was being fetched) is capped at their end: the API was only asked up to there."""
    start, end = min(w.start for w in windows), max(w.end for w in windows)
    if candidate and candidate > end:
        log.warning("newest cursor %s lies beyond the loaded windows (up to %s): the watermark "
                    "stops there", to_rfc3339(candidate), to_rfc3339(end))
        candidate = end
    return Stretch(start, end, candidate)


def next_watermark(entity: EntityConfig, covered: list[Stretch],
                   watermark: datetime | None) -> datetime | None:
    """The newest cursor of the stretch loaded without a hole from the current watermark (or from
    the start date): a backfill after a gap never lets incremental runs skip the gap, and windows
    committed out of order still move the watermark once the hole between them is filled."""
    base = watermark or entity.start_date
    reaching = [s for s in covered if s.start <= base <= s.end]
    return max(filter(None, [watermark, *(s.newest for s in reaching)]), default=None)


def commit_state(entity: EntityConfig, bucket: str, item: Any, windows: list[Window],
                 candidate: datetime | None, run_id: str) -> datetime | None:
    """Record `windows` as loaded, with `candidate` the newest cursor merged in them, and move the
    watermark (see `next_watermark`); returns the watermark now stored. Call only after the MERGE
    committed."""
    added = loaded(entity, windows, candidate)

    def record(stored: dict | None) -> dict:
        state = State.parse(stored)
        covered = coalesce([*state.covered, added])
        watermark = next_watermark(entity, covered, state.watermark)
        return {"entity": entity.name, "item": item, "cursor_field": entity.cursor_field,
                "watermark": to_rfc3339(watermark) if watermark else None,
                "covered": [stretch.to_json() for stretch in covered],
                "run_id": run_id, "updated_at": to_rfc3339(datetime.now(UTC))}

    stored, _ = update_json(bucket, state_path(entity, item), record, f"the state of {entity.name}")
    return State.parse(stored).watermark


def item_states(entity: EntityConfig, bucket: str) -> dict[Any, State]:
    """Every stored state of the entity: key None without fan-out, else the item (as text)."""
    states = {}
    for path in gcs_helper.list_paths(bucket, f"state/{entity.name}"):
        # the prefix also lists other entities whose name starts with this one's
        if path == state_path(entity) or path.startswith(f"state/{entity.name}/"):
            stored, _ = read_json(bucket, path)
            if stored:
                states[stored.get("item")] = State.parse(stored)
    return states
