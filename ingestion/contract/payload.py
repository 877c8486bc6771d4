"""The trigger message: decode and validate it into a SyncRequest (or a PayloadError naming the cause)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestion.contract.dates import is_date_only, parse_instant
from ingestion.contract.errors import PayloadError
from ingestion.contract.schema import payload_schema, schema_errors
from ingestion.contract.sections import with_defaults

MODES = ("incremental", "incremental_window", "historical_full", "replay")
# The names the payload schema accepts (paths in GCS are built from them).
ENTITY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_MESSAGE_BYTES = 16 * 1024


@dataclass(frozen=True)
class SyncRequest:
    entity: str
    mode: str
    start: datetime | None = None
    end: datetime | None = None
    message_id: str = ""
    attempt: int = 1
    item: str | int | None = None  # fan-out: this item only
    parallel: int | None = None  # fan out into at most this many messages
    job: str | None = None  # continue this job (a continuation or one chunk of a parallel backfill)
    chunk: int | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def job_id(self) -> str:
        """The job this delivery works on: the one named by a continuation, else the message's
        own id, so every redelivery of a message resumes (or skips) the same job."""
        if self.job:
            return self.job
        return re.sub(r"[^A-Za-z0-9_-]", "", self.message_id)[:100] or self.run_id

    @property
    def run_id(self) -> str:
        """One per delivery attempt: when it started, and which message it serves. Each attempt
        stages into its own GCS prefix and staging table, so a redelivery never mixes with (or
        deletes) what an earlier attempt wrote; the message id ties attempts together."""
        suffix = re.sub(r"[^A-Za-z0-9]", "", self.message_id)[-20:] or "manual"
        return f"{self.received_at:%Y%m%dT%H%M%S%f}_{suffix}"


def decode_message_data(data: Any) -> dict:
    """Pub/Sub message `data` (base64 text or bytes) → the JSON object it carries. A trigger
    message is a few hundred bytes: anything far larger is refused before it is decoded."""
    size = len(data or b"") * 3 // 4 if isinstance(data, str) else len(data or b"")
    if size > MAX_MESSAGE_BYTES:
        raise PayloadError(f"message data is {size} bytes; a trigger message is at most "
                           f"{MAX_MESSAGE_BYTES} bytes")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else bytes(data or b"")
        payload = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise PayloadError(f"message data is not base64-encoded JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"message data must be a JSON object, got {type(payload).__name__}")
    return payload


def parse_request(payload: dict, message_id: str = "", attempt: int = 1) -> SyncRequest:
    errors = schema_errors("payload", payload)
    if errors:
        raise PayloadError("invalid trigger message: " + "; ".join(errors))
    payload = with_defaults(payload, payload_schema())
    mode = payload["sync_mode"]
    try:
        start = parse_instant(payload["start_date"]) if "start_date" in payload else None
        end = (parse_instant(payload["end_date"], end_of_day=is_date_only(payload["end_date"]))
               if "end_date" in payload else None)
    except ValueError as exc:
        raise PayloadError(f"invalid trigger message: {exc}") from None
    if mode == "incremental" and (start or end):
        raise PayloadError("start_date/end_date apply to incremental_window and replay; "
                           "incremental always continues from the stored watermark")
    if mode == "historical_full" and (start or end):
        raise PayloadError("historical_full always covers the config's start_date up to now (it "
                           "deletes what the snapshot lacks); use incremental_window for a range")
    if "parallel" in payload and mode not in ("incremental_window", "historical_full"):
        raise PayloadError("parallel applies to incremental_window and historical_full")
    if "job" in payload and {"start_date", "end_date", "parallel"} & set(payload):
        raise PayloadError("a job message continues a planned job: it takes no start_date, "
                           "end_date or parallel")
    if mode == "incremental_window" and start is None and "job" not in payload:
        # (a job message continues a plan that already holds the dates)
        raise PayloadError("sync_mode incremental_window needs a start_date")
    if mode == "replay" and {"job", "item"} & set(payload):
        raise PayloadError("replay rebuilds from the raw pages of every item in one run: it takes "
                           "no job or item")
    if start and end and start >= end:
        raise PayloadError(f"start_date {payload['start_date']} is not before end_date "
                           f"{payload['end_date']}")
    return SyncRequest(payload["entity"], mode, start, end, message_id, attempt,
                       item=payload.get("item"), parallel=payload.get("parallel"),
                       job=payload.get("job"), chunk=payload.get("chunk"))


def continuation_payload(request: SyncRequest, job_id: str, chunk: int | None = None) -> dict:
    """The message that continues job `job_id` (or one chunk of it) in another invocation."""
    payload: dict[str, Any] = {"entity": request.entity, "sync_mode": request.mode, "job": job_id}
    if request.item is not None:
        payload["item"] = request.item
    if chunk is not None:
        payload["chunk"] = chunk
    return payload


def message_id_of(envelope: Any) -> str:
    message = envelope.get("message") if isinstance(envelope, dict) else None
    return str(message.get("messageId") or "") if isinstance(message, dict) else ""


def request_from_envelope(envelope: Any) -> SyncRequest:
    """A Pub/Sub push envelope ({"message": {...}, "subscription", "deliveryAttempt"}) → request."""
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise PayloadError("CloudEvent data is not a Pub/Sub push envelope with a `message`")
    attempt = envelope.get("deliveryAttempt")
    return parse_request(
        decode_message_data(message.get("data")),
        message_id=message_id_of(envelope),
        attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
    )
