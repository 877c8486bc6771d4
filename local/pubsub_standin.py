"""A local Pub/Sub stand-in, reached by the real `PublisherClient` over REST.

Google's Pub/Sub emulator is not installable from the registries this project may use, so this
implements topics, push subscriptions and publish. A push subscription delivers each message the way
Eventarc delivers to a gen2 function: a binary-mode CloudEvent whose body is the Pub/Sub push envelope.
A non-2xx answer is retried with backoff up to `max_attempts` (at-least-once, like the real service),
after which the message is recorded as dead-lettered.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from werkzeug.wrappers import Request, Response

from local._rest import google_error, json_response


def pubsub_message(data: bytes, message_id: str, publish_time: str | None = None) -> dict:
    """A message as Pub/Sub stores and pushes it."""
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


_TOPIC = re.compile(r"^/v1/(projects/[^/]+/topics/[^/:]+)$")
_PUBLISH = re.compile(r"^/v1/(projects/[^/]+/topics/[^/:]+):publish$")
_SUBSCRIPTION = re.compile(r"^/v1/(projects/[^/]+/subscriptions/[^/:]+)$")


@dataclass
class Delivery:
    message_id: str
    subscription: str
    attempts: int = 0
    status: str = "pending"  # pending | acked | dead_lettered | abandoned


@dataclass
class PubSubStandIn:
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    topics: set[str] = field(default_factory=set)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    published: list[dict] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        # Numeric ids, unique across restarts (the ledger is queried by message id).
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="push")
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Abandon pending pushes (their endpoint is going away) and free the worker threads."""
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __call__(self, environ, start_response):
        return self._dispatch(Request(environ))(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        body = request.get_json(silent=True) or {}
        if (m := _TOPIC.match(path)) and method == "PUT":
            return self._create_topic(m[1])
        if (m := _TOPIC.match(path)) and method == "GET":
            if m[1] not in self.topics:
                return google_error(404, f"Topic not found: {m[1]}")
            return json_response({"name": m[1]})
        if (m := _SUBSCRIPTION.match(path)) and method == "PUT":
            return self._create_subscription(m[1], body)
        if (m := _PUBLISH.match(path)) and method == "POST":
            return self._publish(m[1], body.get("messages", []))
        return google_error(404, f"no such route: {method} {path}")

    def _create_topic(self, topic: str) -> Response:
        with self._lock:
            if topic in self.topics:
                return google_error(409, f"Topic already exists: {topic}")
            self.topics.add(topic)
        return json_response({"name": topic})

    def _create_subscription(self, name: str, body: dict) -> Response:
        topic = body.get("topic", "")
        with self._lock:
            if topic not in self.topics:
                return google_error(404, f"Topic not found: {topic}")
            if name in self.subscriptions:
                return google_error(409, f"Subscription already exists: {name}")
            self.subscriptions[name] = {"name": name, **body}
        return json_response(self.subscriptions[name])

    def _publish(self, topic: str, messages: list[dict]) -> Response:
        if topic not in self.topics:
            return google_error(404, f"Topic not found: {topic}")
        ids = []
        for message in messages:
            message_id = str(next(self._ids))
            stored = {
                "data": message.get("data", ""),
                "attributes": message.get("attributes", {}),
                "messageId": message_id,
                "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            ids.append(message_id)
            with self._lock:
                self.published.append({"topic": topic, **stored})
                subs = [s for s in self.subscriptions.values() if s.get("topic") == topic]
            for sub in subs:
                endpoint = sub.get("pushConfig", {}).get("pushEndpoint")
                if endpoint:
                    delivery = Delivery(message_id, sub["name"])
                    with self._lock:
                        self.deliveries.append(delivery)
                    self._pool.submit(self._push, topic, endpoint, stored, delivery)
        return json_response({"messageIds": ids})

    def _push(self, topic: str, endpoint: str, message: dict, delivery: Delivery) -> None:
        headers = push_headers(message, topic)
        while delivery.attempts < self.max_attempts and not self._stopped.is_set():
            delivery.attempts += 1
            envelope = push_envelope(message, delivery.subscription, delivery.attempts)
            try:
                resp = requests.post(endpoint, data=json.dumps(envelope), headers=headers, timeout=600)
                if 200 <= resp.status_code < 300:
                    delivery.status = "acked"
                    return
            except requests.RequestException:
                pass  # the endpoint is down: same as a non-2xx, retry with backoff
            if delivery.attempts < self.max_attempts:  # no pointless wait before dead-lettering
                self._stopped.wait(self.backoff_seconds * 2 ** (delivery.attempts - 1))
        delivery.status = "abandoned" if self._stopped.is_set() else "dead_lettered"

    def wait_idle(self, timeout: float = 300) -> bool:
        """Wait until no delivery is pending; True when all settled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(d.status != "pending" for d in self.deliveries):
                return True
            time.sleep(0.2)
        return False
