"""Jobs: what one trigger message asked for, planned once and checkpointed after every committed
step, in `jobs/<source>/<entity>/<job_id>.json` (generation preconditions on every write).

A job is the list of (item, window) slices its message planned. Every delivery of the message, every
continuation after the time budget and every part of a parallel backfill works on the same job:
each takes the slices not done yet and marks them done once their rows are merged and the state is
committed. So a redelivery resumes where the last committed step ended, a duplicate finds nothing
left to do, and a finished job is never run twice.
"""

from __future__ import annotations

from collections.abc import Callable

from google.api_core.exceptions import PreconditionFailed

from ingestion.contract.dates import parse_instant, to_rfc3339
from ingestion.contract.errors import RetryableError
from ingestion.contract.redact import redact
from ingestion.model import Job, JobSlice, Window
from ingestion.planning.store import read_json, update_json, write_json


def job_document(job: Job) -> dict:
    return {
        "job_id": job.job_id, "entity": job.entity, "mode": job.mode, "item": job.item,
        "planned_at": to_rfc3339(job.planned_at), "status": job.status,
        "rejected": job.rejected, "finalized": job.finalized,
        "error": redact(job.error) if job.error else None,
        "runs": job.runs, "yielded": job.yielded,
        "slices": [{"item": s.item, "start": to_rfc3339(s.window.start),
                    "end": to_rfc3339(s.window.end), "chunk": s.chunk, "done_by": s.done_by,
                    **({} if s.after is None else {"after": s.after})}
                   for s in job.slices],
    }


def job_from_document(stored: dict, generation: int) -> Job:
    slices = [JobSlice(s["item"], Window(parse_instant(s["start"]), parse_instant(s["end"])),
                       s["chunk"], s["done_by"], s.get("after")) for s in stored["slices"]]
    return Job(stored["job_id"], stored["entity"], stored["mode"], stored["item"],
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
    stored, generation = read_json(bucket, job_path(entity, job_id))
    return job_from_document(stored, generation) if stored else None


def create_job(bucket: str, job: Job) -> Job:
    """Store a newly planned job; if a concurrent delivery of the same message stored its plan
    first, that plan wins and is returned."""
    try:
        job.generation = write_json(bucket, job_path(job.entity, job.job_id), job_document(job),
                                    if_generation_match=0)
        return job
    except PreconditionFailed:
        stored = load_job(bucket, job.entity, job.job_id)
        if stored is None:  # created and deleted within a moment: only a lifecycle rule does that
            raise RetryableError(f"job {job.job_id} vanished while it was being created") from None
        return stored


def update_job(bucket: str, job: Job, change: Callable[[Job], None]) -> Job:
    """Apply `change` to the newest stored version of the job (re-read after each lost race, so
    parallel parts marking their own slices never undo each other); returns that version."""
    def apply(stored: dict | None) -> dict:
        current = job if stored is None else job_from_document(stored, 0)
        change(current)
        return job_document(current)

    stored, generation = update_json(bucket, job_path(job.entity, job.job_id), apply,
                                     f"job {job.job_id}", known=(job_document(job), job.generation))
    return job_from_document(stored, generation)
