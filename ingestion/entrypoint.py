"""From a Pub/Sub CloudEvent to a sync, and the ack/redeliver decision.

Returning normally acknowledges the message; raising makes Pub/Sub redeliver it. Permanent errors
(a bad message, a bad config, a 4xx from the API, records that break the contract) are logged with
their cause and acknowledged, so they never loop; retryable ones are re-raised.
"""

from __future__ import annotations

import logging
from typing import Any

from ingestion.errors import PayloadError, is_retryable
from ingestion.ledger import RunRow
from ingestion.payload import message_id_of, request_from_envelope
from ingestion.pipeline import run_sync
from ingestion.settings import Settings

log = logging.getLogger("ingestion.entrypoint")


def handle_pubsub_envelope(envelope: Any, settings: Settings | None = None) -> RunRow | None:
    """`envelope` is the CloudEvent data of a Pub/Sub push: {"message": {...}, "subscription": ...}.
    Returns the run row, or None when the message was rejected or failed permanently (acked)."""
    context: dict[str, Any] = {"message_id": message_id_of(envelope)}
    try:
        request = request_from_envelope(envelope)
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
