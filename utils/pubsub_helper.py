"""Pub/Sub adapter: publish JSON trigger messages; create topics and push subscriptions.

`PUBSUB_EMULATOR_HOST` (Google's emulator, gRPC) is honoured by the client itself;
`PUBSUB_REST_ENDPOINT` points the client's REST transport at the local stand-in.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os

from google.api_core.exceptions import Conflict
from google.cloud import pubsub_v1

from utils.gcp import emulator_kwargs


def _kwargs() -> dict:
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return emulator_kwargs("PUBSUB_EMULATOR_HOST")
    return emulator_kwargs("PUBSUB_REST_ENDPOINT", rest_endpoint=True)


@functools.cache
def publisher() -> pubsub_v1.PublisherClient:
    return pubsub_v1.PublisherClient(**_kwargs())


@functools.cache
def subscriber() -> pubsub_v1.SubscriberClient:
    return pubsub_v1.SubscriberClient(**_kwargs())


def topic_path(project: str, topic: str) -> str:
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"


def publish_json(project: str, topic: str, payload: dict, **attributes: str) -> str:
    """Publish `payload` as the message data (UTF-8 JSON); returns the message id."""
    data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return publisher().publish(topic_path(project, topic), data, **attributes).result(timeout=60)


def ensure_topic(project: str, topic: str) -> None:
    # ALREADY_EXISTS is AlreadyExists over gRPC but a plain 409 Conflict over REST.
    with contextlib.suppress(Conflict):
        publisher().create_topic(name=topic_path(project, topic))


def ensure_push_subscription(project: str, name: str, topic: str, endpoint: str) -> None:
    # ALREADY_EXISTS is AlreadyExists over gRPC but a plain 409 Conflict over REST.
    with contextlib.suppress(Conflict):
        subscriber().create_subscription(
            name=f"projects/{project}/subscriptions/{name}",
            topic=topic_path(project, topic),
            push_config={"push_endpoint": endpoint},
        )
