"""Leases: which runs are working on which windows of an entity right now.

One object per entity, `leases/<source>/<entity>.json`, lists the live holders: run, job, item and
window span, and an expiry. A run adds itself only if no live holder overlaps its windows (same
item, or either covers all items), with a generation precondition, so two writers can never both
win. Disjoint windows (the parts of a parallel backfill) proceed side by side; overlapping ones
never merge at the same time. A lease outlives the longest possible run, so an expired entry means
its holder died (killed at the time limit, or crashed): anyone may then take over its windows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core.exceptions import PreconditionFailed

from ingestion.config import EntityConfig
from ingestion.dates import parse_instant, to_rfc3339
from ingestion.errors import LeaseHeld, RetryableError
from utils import gcs_helper

log = logging.getLogger("ingestion.lease")
ALL_ITEMS = "*"


@dataclass(frozen=True)
class Claim:
    item: str  # ALL_ITEMS, or one fan-out item as text
    start: datetime
    end: datetime

    def overlaps(self, other: Claim) -> bool:
        same_item = ALL_ITEMS in (self.item, other.item) or self.item == other.item
        return same_item and self.start < other.end and other.start < self.end


@dataclass
class Lease:
    entity: EntityConfig
    bucket: str
    run_id: str
    job_id: str
    claims: list[Claim]
    seconds: float
    clock: Callable[[], datetime]

    @property
    def path(self) -> str:
        return f"leases/{self.entity.name}.json"

    def acquire(self) -> None:
        """Add our claims, or raise LeaseHeld naming the live holder we overlap."""
        def add(holders: list[dict]) -> list[dict]:
            for holder in holders:
                theirs = Claim(holder["item"], parse_instant(holder["start"]), parse_instant(holder["end"]))
                if any(theirs.overlaps(mine) for mine in self.claims):
                    raise LeaseHeld(
                        f"run {holder['run_id']} (job {holder['job_id']}) is working on "
                        f"{holder['start']} → {holder['end']}"
                        f"{'' if holder['item'] == ALL_ITEMS else ' for item ' + holder['item']} "
                        f"until {holder['expires_at']} at the latest", holder_job=holder["job_id"])
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
        return [{"run_id": self.run_id, "job_id": self.job_id, "item": c.item,
                 "start": to_rfc3339(c.start), "end": to_rfc3339(c.end), "expires_at": expires}
                for c in self.claims]

    def _update(self, change: Callable[[list[dict]], list[dict]], attempts: int = 10) -> None:
        for _ in range(attempts):
            data, generation = gcs_helper.read(self.bucket, self.path)
            now = self.clock()
            live = [h for h in (json.loads(data)["holders"] if data else [])
                    if parse_instant(h["expires_at"]) > now]
            holders = change(live)
            try:
                gcs_helper.upload(self.bucket, self.path, json.dumps({"holders": holders}, indent=1),
                                  "application/json", if_generation_match=generation)
                return
            except PreconditionFailed:
                continue
        raise RetryableError(f"could not update the lease after {attempts} concurrent-write retries")


def claims_for(slices: list[Any]) -> list[Claim]:
    """One claim per item: the span from its first pending window to its last."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for piece in slices:
        key = ALL_ITEMS if piece.item is None else str(piece.item)
        start, end = spans.get(key, (piece.window.start, piece.window.end))
        spans[key] = (min(start, piece.window.start), max(end, piece.window.end))
    return [Claim(item, start, end) for item, (start, end) in spans.items()]


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
