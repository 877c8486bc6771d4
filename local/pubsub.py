"""Pub/Sub on the local stack (Google's emulator, through the official client): a trigger topic wired
as deploy/ wires production's, what was published to it, and whether everything was processed.

Production (deploy/infra.sh, deploy/function.sh): the trigger topic; Eventarc's push subscription
with a 600 s ack deadline, backoff between retries and a dead-letter policy; the dead-letter topic
and a subscription that holds what lands there. Locally the same, with shorter retry timings, so a
message that keeps failing is given up in seconds instead of hours; the emulator pushes the raw
Pub/Sub body and functions-framework turns it into the CloudEvent Eventarc would send (what
Eventarc sends itself: local/push.py).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import datetime

from google.api_core.exceptions import AlreadyExists

from utils import pubsub_helper

ACK_DEADLINE_SECONDS = 600  # as deploy/function.sh: longer than a run may take
MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 1, 10  # production: 10 s to 600 s
MAX_DELIVERY_ATTEMPTS = 5  # production: 15; the emulator's (and Pub/Sub's) minimum is 5


def _subscription(project: str, name: str) -> str:
    return f"projects/{project}/subscriptions/{name}"


def _names(project: str, topic: str) -> dict[str, str]:
    """The resources serving `topic`, named after it (production: ingest-dead-letter, -hold)."""
    return {"topic": pubsub_helper.topic_path(project, topic),
            "push": _subscription(project, f"{topic}-push"),
            "tap": _subscription(project, f"{topic}-tap"),
            "probe": _subscription(project, f"{topic}-probe"),
            "dead_letter": pubsub_helper.topic_path(project, f"{topic}-dead-letter"),
            "hold": _subscription(project, f"{topic}-dead-letter-hold")}


def _create(**subscription) -> None:
    with contextlib.suppress(AlreadyExists):
        pubsub_helper.subscriber().create_subscription(request=subscription)


def tap(project: str, topic: str) -> None:
    """Create `topic` and a pull subscription that keeps a copy of everything published to it
    from now on (what a run published: continuations, parallel parts, backfills)."""
    names = _names(project, topic)
    pubsub_helper.ensure_topic(project, topic)
    _create(name=names["tap"], topic=names["topic"])


def serve(project: str, topic: str, function_url: str) -> None:
    """Push every message of `topic` to the function at `function_url`, redelivering what it fails
    and dead-lettering what keeps failing, as in production; also tap the topic."""
    names = _names(project, topic)
    tap(project, topic)
    pubsub_helper.ensure_topic(project, names["dead_letter"])
    _create(name=names["hold"], topic=names["dead_letter"])  # a topic alone drops its messages
    _create(name=names["probe"], topic=names["topic"])
    # The topic in the URL path becomes the CloudEvent's source, as Eventarc sets it.
    _create(name=names["push"], topic=names["topic"],
            push_config={"push_endpoint": f"{function_url.rstrip('/')}/{names['topic']}"},
            ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            retry_policy={"minimum_backoff": {"seconds": MIN_RETRY_SECONDS},
                          "maximum_backoff": {"seconds": MAX_RETRY_SECONDS}},
            dead_letter_policy={"dead_letter_topic": names["dead_letter"],
                                "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS})


def read(subscription: str) -> list[tuple[str, bytes, datetime]]:
    """(message id, data, publish time) of every message waiting in a pull subscription, oldest
    first, left there (each is pulled and at once handed back), so every call sees them all."""
    client, seen, ack_ids = pubsub_helper.subscriber(), {}, []
    while True:
        # return_immediately: an empty subscription answers at once instead of holding the call.
        pulled = client.pull(request={"subscription": subscription, "max_messages": 1000,
                                      "return_immediately": True}).received_messages
        if not pulled:
            break
        ack_ids += [received.ack_id for received in pulled]
        seen |= {received.message.message_id: received.message for received in pulled}
    if ack_ids:
        client.modify_ack_deadline(subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=0)
    messages = [(m.message_id, m.data, m.publish_time) for m in seen.values()]
    # Oldest first; the emulator numbers its messages in publish order (within a millisecond).
    return sorted(messages, key=lambda m: (m[2], len(m[0]), m[0]))


def published(project: str, topic: str) -> list[tuple[str, bytes]]:
    """(message id, data) of every message published to `topic` since `tap` (or `serve`)."""
    return [(message_id, data) for message_id, data, _ in read(_names(project, topic)["tap"])]


def dead_lettered(project: str, topic: str) -> int:
    """How many messages of `topic` the push subscription gave up on after repeated failures."""
    return len(read(_names(project, topic)["hold"]))


def outstanding(project: str, topic: str) -> bool:
    """Whether the push subscription of `topic` still has a message not acknowledged: being
    pushed, or waiting for its redelivery. Pub/Sub has no call that lists them (production watches
    Monitoring's undelivered-messages metric); a snapshot captures exactly them, and a pull
    subscription sought to the snapshot hands them out."""
    names, client = _names(project, topic), pubsub_helper.subscriber()
    snapshot = f"projects/{project}/snapshots/{topic}-probe-{uuid.uuid4().hex[:8]}"
    client.create_snapshot(name=snapshot, subscription=names["push"])
    try:
        client.seek(request={"subscription": names["probe"], "snapshot": snapshot})
    finally:
        client.delete_snapshot(snapshot=snapshot)
    return bool(client.pull(request={"subscription": names["probe"], "max_messages": 1,
                                     "return_immediately": True}).received_messages)


def wait_idle(project: str, topic: str, timeout: float) -> bool:
    """Wait until every message of `topic` was acknowledged (or dead-lettered), including what
    their runs published meanwhile: a run publishes before its own message is acknowledged.
    False on timeout."""
    deadline = time.monotonic() + timeout
    while outstanding(project, topic):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True
