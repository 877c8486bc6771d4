"""Leases: which runs are working on which windows of an entity right now.

One object per entity, `leases/<source>/<entity>.json`, lists the live holders: run, job, item and
window span, and an expiry. A run adds itself only if no live holder overlaps its windows (same
item, or either covers all items), with a generation precondition, so two writers can never both
win. Disjoint windows (the parts of a parallel backfill) proceed side by side; overlapping ones
never merge at the same time. A lease outlives the longest possible run, so an expired entry means
its holder died (killed at the time limit, or crashed): anyone may then take over its windows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import parse_instant, to_rfc3339
from ingestion.contract.errors import LeaseHeld
from ingestion.model import Window
from ingestion.planning.store import update_json

log = logging.getLogger("ingestion.planning.lease")
ALL_ITEMS = "*"


@dataclass(frozen=True)
class Claim:
    item: str  # ALL_ITEMS, or one fan-out item as text
    start: datetime
    end: datetime

    def overlaps(self, other: Claim) -> bool:
        same_item = ALL_ITEMS in (self.item, other.item) or self.item == other.item
        return same_item and self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Hold:
    """A live holder's claim, and the kind of run it is (its sync mode; None from an older
    release, which did not record it)."""

    claim: Claim
    mode: str | None
    run_id: str
    job_id: str


@dataclass
class Lease:
    entity: EntityConfig
    bucket: str
    run_id: str
    job_id: str
    claims: list[Claim]
    seconds: float
    clock: Callable[[], datetime]
    mode: str | None = None  # the sync mode of the run: an incremental run yields to backfills

    @property
    def path(self) -> str:
        return f"leases/{self.entity.name}.json"

    def acquire(self) -> None:
        """Add our claims, or raise LeaseHeld naming the live holders we overlap (all of them, in
        `holds`, so the caller can work around them)."""
        def add(holders: list[dict]) -> list[dict]:
            blocking = [h for h in holders if any(hold_of(h).claim.overlaps(c) for c in self.claims)]
            if blocking:
                first = blocking[0]
                raise LeaseHeld(
                    f"run {first['run_id']} (job {first['job_id']}) is working on "
                    f"{first['start']} → {first['end']}"
                    f"{'' if first['item'] == ALL_ITEMS else ' for item ' + first['item']} "
                    f"until {first['expires_at']} at the latest", holds=[hold_of(h) for h in blocking])
            return holders + self._entries()

        self._update(add)

    def release(self) -> None:
        """Remove our entries. Failing to is not fatal: they expire."""
        try:
            self._update(lambda holders: [h for h in holders if h["run_id"] != self.run_id])
        except Exception:
            log.warning("could not release the lease (it expires by itself)", exc_info=True)

    def _entries(self) -> list[dict]:
        expires = to_rfc3339(self.clock() + timedelta(seconds=self.seconds))
        return [{"run_id": self.run_id, "job_id": self.job_id, "mode": self.mode, "item": c.item,
                 "start": to_rfc3339(c.start), "end": to_rfc3339(c.end), "expires_at": expires}
                for c in self.claims]

    def _update(self, change: Callable[[list[dict]], list[dict]]) -> None:
        """Apply `change` to the live holders (expired entries are dropped on the way)."""
        def apply(stored: dict | None) -> dict:
            now = self.clock()
            live = [h for h in (stored or {}).get("holders", []) if parse_instant(h["expires_at"]) > now]
            return {"holders": change(live)}

        update_json(self.bucket, self.path, apply, f"the lease of {self.entity.name}")


def hold_of(holder: dict) -> Hold:
    claim = Claim(holder["item"], parse_instant(holder["start"]), parse_instant(holder["end"]))
    return Hold(claim, holder.get("mode"), holder["run_id"], holder["job_id"])


def claims_for(slices: list[Any]) -> list[Claim]:
    """Per item, one claim for each run of pending windows without a hole between them (a job
    narrowed around another run's claim must not claim across it)."""
    claims: list[Claim] = []
    by_item: dict[str, list[Any]] = {}
    for piece in slices:
        by_item.setdefault(ALL_ITEMS if piece.item is None else str(piece.item), []).append(piece)
    for item, pieces in by_item.items():
        spans: list[list[datetime]] = []
        for piece in sorted(pieces, key=lambda p: p.window.start):
            if spans and piece.window.start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], piece.window.end)
            else:
                spans.append([piece.window.start, piece.window.end])
        claims += [Claim(item, start, end) for start, end in spans]
    return claims


def unheld(slices: list[Any], holds: list[Hold], whole_only: bool = False) -> list[Any]:
    """The parts of `slices` that no hold covers, cut at the holds' bounds (same item, or either
    side covering all items). `whole_only` (windows aligned to export files) keeps only the
    slices no hold touches: a cut would ask the API for part of a file."""
    free = []
    for piece in slices:
        mine = Claim(ALL_ITEMS if piece.item is None else str(piece.item), piece.window.start,
                     piece.window.end)
        blocking = sorted((h.claim for h in holds if h.claim.overlaps(mine)), key=lambda c: c.start)
        if whole_only and blocking:
            continue
        start = piece.window.start
        for claim in blocking:
            if claim.start > start:
                free.append(replace(piece, window=Window(start, claim.start)))
            start = max(start, claim.end)
        if start < piece.window.end:
            free.append(replace(piece, window=Window(start, piece.window.end)))
    return free


@contextmanager
def releasing(lease: Lease) -> Iterator[Lease]:
    """Release the (acquired) lease when the block ends normally or with an error, but not when
    the process is going down (BaseException, e.g. a timeout kill): like a real crash, that
    leaves it to expire."""
    try:
        yield lease
    except Exception:
        lease.release()
        raise
    lease.release()
