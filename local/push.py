"""A Pub/Sub push as a deployed gen2 function receives it from Eventarc: a binary-mode CloudEvent
whose body is the push envelope. The tests and the bench post these to the function in-process.
Standard library only: the bench times the function's own imports.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime


def pubsub_message(data: bytes, message_id: str, publish_time: str | None = None) -> dict:
    """A message as Pub/Sub pushes it."""
    return {"data": base64.b64encode(data).decode(), "attributes": {}, "messageId": message_id,
            "publishTime": publish_time or datetime.now(UTC).isoformat().replace("+00:00", "Z")}


def push_envelope(message: dict, subscription: str, attempt: int | None = None) -> dict:
    """The body of a push delivery (the CloudEvent's data)."""
    body = {"message": message, "subscription": subscription}
    if attempt:
        body["deliveryAttempt"] = attempt
    return body


def push_headers(message: dict, topic: str) -> dict[str, str]:
    """The binary-mode CloudEvent headers Eventarc sends a gen2 function with a push."""
    return {
        "ce-id": message["messageId"],
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "ce-time": message["publishTime"],
        "Content-Type": "application/json",
    }
