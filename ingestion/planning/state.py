"""Sync state: one JSON object per entity (and per fan-out item) in GCS, written with generation
preconditions so concurrent writers never lose each other's updates.

- `watermark`: the newest cursor value among merged records (never the wall clock). It only moves
  forward, and only when everything between it and the new value has been loaded. An integer or
  string cursor (`incremental.cursor_type`) is stored as such; its runs read on from the watermark,
  so whatever they merged reaches back to it.
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
    newest: Any = None  # a datetime; an int or str for a sequence cursor

    def to_json(self) -> list:
        return [to_rfc3339(self.start), to_rfc3339(self.end), encode(self.newest)]


def encode(position: Any) -> Any:
    """A watermark as stored: RFC 3339 text for a time, else the integer or string itself."""
    return to_rfc3339(position) if isinstance(position, datetime) else position


def decode(stored: Any, sequence: bool) -> Any:
    if stored is None or sequence:
        return stored
    return parse_instant(stored)


@dataclass
class State:
    watermark: Any = None  # see Stretch.newest
    covered: list[Stretch] = field(default_factory=list)

    @classmethod
    def parse(cls, stored: dict | None, sequence: bool = False) -> State:
        stored = stored or {}
        covered = [Stretch(parse_instant(a), parse_instant(b), decode(n, sequence))
                   for a, b, n in stored.get("covered", [])]
        return cls(decode(stored.get("watermark"), sequence), covered)


def state_path(entity: EntityConfig, item: Any = None) -> str:
    """`state/<source>/<entity>.json`, or per fan-out item `state/<source>/<entity>/<item>.json`."""
    if item is None:
        return f"state/{entity.name}.json"
    return f"state/{entity.name}/{quote(str(item), safe='')}.json"


# The version of each state object this process last read (planning reads every item's), which
# the item's next commit tries first: its write is conditional on that generation, so a state
# changed since fails it and is read again, but the usual commit is one write instead of a read
# and a write (fifty items: fifty GCS requests fewer after their MERGE). Taken once; bounded.
_read: dict[tuple[str, str], tuple[dict | None, int]] = {}
_READ_MAX = 10_000


def read_state(entity: EntityConfig, bucket: str, item: Any = None) -> State:
    path = state_path(entity, item)
    stored = read_json(bucket, path)
    if len(_read) >= _READ_MAX:  # runs that never committed what they read: start over
        _read.clear()
    _read[bucket, path] = stored
    return State.parse(stored[0], entity.incremental.sequence)


def read_watermark(entity: EntityConfig, bucket: str, item: Any = None) -> Any:
    return read_state(entity, bucket, item).watermark


def coalesce(stretches: list[Stretch]) -> list[Stretch]:
    """Sorted, with overlapping or touching stretches merged (keeping the newest cursor)."""
    merged: list[Stretch] = []
    for piece in sorted(stretches, key=lambda w: w.start):
        if merged and piece.start <= merged[-1].end:
            last = merged[-1]
            newest = max((n for n in (last.newest, piece.newest) if n is not None), default=None)
            merged[-1] = Stretch(last.start, max(last.end, piece.end), newest)
        else:
            merged.append(piece)
    return merged


def loaded(entity: EntityConfig, windows: list[Window], candidate: Any) -> Stretch:
    """The stretch `windows` add. A time cursor past them (a bogus far-future date, or a record
    changed while it was being fetched) is capped at their end: the API was only asked up to there."""
    start, end = min(w.start for w in windows), max(w.end for w in windows)
    if isinstance(candidate, datetime) and candidate > end:
        log.warning("newest cursor %s lies beyond the loaded windows (up to %s): the watermark "
                    "stops there", to_rfc3339(candidate), to_rfc3339(end))
        candidate = end
    return Stretch(start, end, candidate)


def next_watermark(entity: EntityConfig, covered: list[Stretch], watermark: Any, added: Stretch) -> Any:
    """The newest cursor of the stretch loaded without a hole from the current watermark (or from
    the start date): a backfill after a gap never lets incremental runs skip the gap, and windows
    committed out of order still move the watermark once the hole between them is filled. A
    sequence cursor's run read on from the watermark (or everything): its newest value is next."""
    if entity.incremental.sequence:
        return max((p for p in (watermark, added.newest) if p is not None), default=None)
    base = watermark or entity.start_date
    reaching = [s for s in covered if s.start <= base <= s.end]
    return max(filter(None, [watermark, *(s.newest for s in reaching)]), default=None)


def commit_state(entity: EntityConfig, bucket: str, item: Any, windows: list[Window],
                 candidate: Any, run_id: str) -> Any:
    """Record `windows` as loaded, with `candidate` the newest cursor merged in them, and move the
    watermark (see `next_watermark`); returns the watermark now stored. Call only after the MERGE
    committed."""
    added = loaded(entity, windows, candidate)

    sequence = entity.incremental.sequence

    def record(stored: dict | None) -> dict:
        state = State.parse(stored, sequence)
        covered = coalesce([*state.covered, added])
        watermark = next_watermark(entity, covered, state.watermark, added)
        return {"entity": entity.name, "item": item, "cursor_field": entity.cursor_field,
                "watermark": encode(watermark),
                "covered": [stretch.to_json() for stretch in covered],
                "run_id": run_id, "updated_at": to_rfc3339(datetime.now(UTC))}

    path = state_path(entity, item)
    stored, _ = update_json(bucket, path, record, f"the state of {entity.name}",
                            known=_read.pop((bucket, path), None))
    return State.parse(stored, sequence).watermark


def item_states(entity: EntityConfig, bucket: str) -> dict[Any, State]:
    """Every stored state of the entity: key None without fan-out, else the item (as text)."""
    states = {}
    for path in gcs_helper.list_paths(bucket, f"state/{entity.name}"):
        # the prefix also lists other entities whose name starts with this one's
        if path == state_path(entity) or path.startswith(f"state/{entity.name}/"):
            stored, _ = read_json(bucket, path)
            if stored:
                states[stored.get("item")] = State.parse(stored, entity.incremental.sequence)
    return states
