"""Jobs: what one trigger message asked for, planned once and checkpointed after every committed
step, in `jobs/<source>/<entity>/<job_id>.json` (generation preconditions on every write).

A job is the list of (item, window) slices its message planned. Every delivery of the message, every
continuation after the time budget and every part of a parallel backfill works on the same job:
each takes the slices not done yet and marks them done once their rows are merged and the state is
committed. So a redelivery resumes where the last committed step ended, a duplicate finds nothing
left to do, and a finished job is never run twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core.exceptions import PreconditionFailed

from ingestion.dates import parse_instant, to_rfc3339
from ingestion.errors import RetryableError
from ingestion.extract import Slice
from ingestion.redact import redact
from ingestion.windows import Window
from utils import gcs_helper

TERMINAL = ("succeeded", "failed", "skipped")


@dataclass
class JobSlice:
    item: Any
    window: Window
    chunk: int = 0  # the part of a parallel backfill it belongs to
    done_by: str | None = None  # the run that committed it

    @property
    def slice(self) -> Slice:
        return Slice(self.item, self.window)


@dataclass
class Job:
    job_id: str
    entity: str
    mode: str
    item: Any  # the message's fan-out item; None = all items
    planned_at: datetime  # a full snapshot only deletes rows last written before this
    slices: list[JobSlice]
    status: str = "running"  # running | succeeded | failed | skipped
    rejected: int = 0
    finalized: bool = False  # a full snapshot's deletions are applied
    error: str | None = None
    runs: list[str] = field(default_factory=list)
    yielded: list[dict] = field(default_factory=list)  # claims of backfills it left windows to
    generation: int = 0

    def pending(self, chunk: int | None = None) -> list[JobSlice]:
        return [s for s in self.slices if s.done_by is None and chunk in (None, s.chunk)]

    def to_json(self) -> str:
        return json.dumps({
            "job_id": self.job_id, "entity": self.entity, "mode": self.mode, "item": self.item,
            "planned_at": to_rfc3339(self.planned_at), "status": self.status,
            "rejected": self.rejected, "finalized": self.finalized,
            "error": redact(self.error) if self.error else None,
            "runs": self.runs, "yielded": self.yielded,
            "slices": [{"item": s.item, "start": to_rfc3339(s.window.start),
                        "end": to_rfc3339(s.window.end), "chunk": s.chunk, "done_by": s.done_by}
                       for s in self.slices],
        }, indent=1)

    @classmethod
    def from_json(cls, data: bytes, generation: int) -> Job:
        stored = json.loads(data)
        slices = [JobSlice(s["item"], Window(parse_instant(s["start"]), parse_instant(s["end"])),
                           s["chunk"], s["done_by"]) for s in stored["slices"]]
        return cls(stored["job_id"], stored["entity"], stored["mode"], stored["item"],
                   parse_instant(stored["planned_at"]), slices, stored["status"],
                   stored["rejected"], stored["finalized"], stored["error"], stored["runs"],
                   stored.get("yielded", []), generation)


def assign_chunks(slices: list[JobSlice], parts: int) -> None:
    """Split the slices into at most `parts` runs of consecutive slices of near-equal length."""
    parts = max(1, min(parts, len(slices)))
    for index, piece in enumerate(slices):
        piece.chunk = index * parts // len(slices)


def job_path(entity: str, job_id: str) -> str:
    return f"jobs/{entity}/{job_id}.json"


def load_job(bucket: str, entity: str, job_id: str) -> Job | None:
    data, generation = gcs_helper.read(bucket, job_path(entity, job_id))
    return Job.from_json(data, generation) if data else None


def create_job(bucket: str, job: Job) -> Job:
    """Store a newly planned job; if a concurrent delivery of the same message stored its plan
    first, that plan wins and is returned."""
    try:
        job.generation = gcs_helper.upload(bucket, job_path(job.entity, job.job_id), job.to_json(),
                                           "application/json", if_generation_match=0)
        return job
    except PreconditionFailed:
        stored = load_job(bucket, job.entity, job.job_id)
        if stored is None:  # created and deleted within a moment: only a lifecycle rule does that
            raise RetryableError(f"job {job.job_id} vanished while it was being created") from None
        return stored


def update_job(bucket: str, job: Job, change: Callable[[Job], None], attempts: int = 10) -> Job:
    """Apply `change` to the newest stored version of the job (re-read after each lost race, so
    parallel parts marking their own slices never undo each other); returns that version."""
    current = job
    for _ in range(attempts):
        change(current)
        try:
            current.generation = gcs_helper.upload(
                bucket, job_path(current.entity, current.job_id), current.to_json(),
                "application/json", if_generation_match=current.generation)
            return current
        except PreconditionFailed:
            current = load_job(bucket, job.entity, job.job_id) or job
    raise RetryableError(f"could not checkpoint job {job.job_id} after {attempts} concurrent-write retries")
