"""Pub/Sub adapter: publish JSON trigger messages; create topics.

`PUBSUB_EMULATOR_HOST` (Google's emulator, gRPC; local/pubsub.py starts it) is honoured by the
client itself; the clients then need anonymous credentials.
"""

from __future__ import annotations

import contextlib
import functools
import json

from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1

from utils.gcp import emulator_kwargs


def _kwargs() -> dict:
    return emulator_kwargs("PUBSUB_EMULATOR_HOST")


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
    with contextlib.suppress(AlreadyExists):
        publisher().create_topic(name=topic_path(project, topic))
