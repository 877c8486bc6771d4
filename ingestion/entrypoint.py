"""From a Pub/Sub CloudEvent to a sync, and the ack/redeliver decision.

Returning normally acknowledges the message; raising makes Pub/Sub redeliver it. Permanent errors
(a bad message, a bad config, a 4xx from the API, records that break the contract) are logged with
their cause and acknowledged, so they never loop; retryable ones are re-raised.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from ingestion.errors import PayloadError, is_retryable
from ingestion.ledger import RunRow
from ingestion.payload import decode_message_data, parse_request
from ingestion.pipeline import run_sync
from ingestion.settings import Settings

log = logging.getLogger("ingestion.entrypoint")


def handle_pubsub_envelope(envelope: dict[str, Any], settings: Settings | None = None) -> RunRow | None:
    """`envelope` is the CloudEvent data of a Pub/Sub push: {"message": {...}, "subscription": ...}."""
    message = (envelope or {}).get("message") or {}
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    context: dict[str, Any] = {"message_id": message_id}
    try:
        publish_time = message.get("publishTime") or message.get("publish_time")
        request = parse_request(
            decode_message_data(message.get("data")),
            message_id=message_id,
            publish_time=_publish_time(publish_time),
            attempt=int(envelope.get("deliveryAttempt") or 1),
        )
        context.update(entity=request.entity, run_id=request.run_id, sync_mode=request.mode)
        return run_sync(request, settings or Settings.from_env())
    except PayloadError as exc:
        entity = context.get("entity", "")
        log.error("rejected trigger message%s (acknowledged, nothing written): %s",
                  f" for {entity}" if entity else "", exc, extra=context)
        return None
    except Exception as exc:
        entity = context.get("entity", "?")
        if is_retryable(exc):
            log.exception("%s: sync failed, will be redelivered: %s: %s", entity,
                          type(exc).__name__, exc, extra={**context, "status": "retry"})
            raise
        log.error("%s: sync failed permanently (acknowledged): %s: %s", entity,
                  type(exc).__name__, exc, extra={**context, "status": "failed"})
        return None


def _publish_time(text: str | None) -> datetime | None:
    """Pub/Sub's RFC 3339 publishTime, which may carry nanoseconds (more than fromisoformat takes)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))
    except ValueError:
        return None
