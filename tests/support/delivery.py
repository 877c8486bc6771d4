"""A test's world on the local stack (`Env`: its own bucket, datasets and config folders), and
talking to the function as Pub/Sub does: the push envelope, a delivery to the deployed entry point,
the messages published to the test's topic (read from the Pub/Sub emulator), secrets in the Secret
Manager stand-in."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.contract.settings import ROOT, Settings
from local import pubsub
from local.push import pubsub_message, push_envelope, push_headers

API_KEY = "test-key-not-a-secret"


@dataclass
class Env:
    """One test's world: its own bucket, meta dataset and config/schema folders."""

    settings: Settings
    tmp: Path
    suffix: str
    delivered: set[str] = field(default_factory=set)  # message ids pushed by drain_through_function

    def write(self, name: str, config: dict, schema: list[dict], source: dict | None = None) -> None:
        src, entity = name.split("/")
        (self.settings.config_dir / src).mkdir(parents=True, exist_ok=True)
        (self.settings.schema_dir / src).mkdir(parents=True, exist_ok=True)
        (self.settings.config_dir / src / f"{entity}.json").write_text(json.dumps(config))
        (self.settings.schema_dir / src / f"{entity}.json").write_text(json.dumps(schema))
        if source is not None:
            (self.settings.config_dir / src / "_source.json").write_text(json.dumps(source))

    def copy_configs(self, source: str) -> str:
        """The shipped configs of `source`, pointed at a dataset of this test and failing fast
        (one HTTP retry, no backoff); returns the dataset."""
        shutil.copytree(ROOT / "config" / source, self.settings.config_dir / source)
        shutil.copytree(ROOT / "schema" / source, self.settings.schema_dir / source)
        source_file = self.settings.config_dir / source / "_source.json"
        spec = json.loads(source_file.read_text())
        spec["target"]["dataset"] = dataset = f"{source}_{self.suffix}"
        spec["http"] = {**spec.get("http", {}), "max_retries": 1, "backoff_factor": 0}
        source_file.write_text(json.dumps(spec))
        return dataset

    def copy_demo_configs(self) -> str:
        return self.copy_configs("demo_shop")

    def edit_config(self, name: str, change) -> None:
        """Apply `change(spec)` to the copied config `<source>/<entity>` (e.g. a faster poll)."""
        path = self.settings.config_dir / f"{name}.json"
        spec = json.loads(path.read_text())
        change(spec)
        path.write_text(json.dumps(spec))


TOPIC = "projects/local-project/topics/ingest-trigger"


def envelope(payload, message_id: str = "1001", raw: bytes | None = None,
             attempt: int | None = None) -> dict:
    data = raw if raw is not None else json.dumps(payload).encode()
    message = pubsub_message(data, message_id, "2026-11-20T10:00:00.123456789Z")
    return push_envelope(message, "projects/local-project/subscriptions/ingest-trigger-push", attempt)


def deliver(client, payload=None, message_id: str = "1001", raw: bytes | None = None,
            attempt: int | None = None):
    """POST a Pub/Sub push CloudEvent (binary mode, as Eventarc sends it); returns the response."""
    body = envelope(payload, message_id, raw, attempt)
    return client.post("/", json=body, headers=push_headers(body["message"], TOPIC))


def published(stack, env) -> list[tuple[str, dict]]:
    """(message id, payload) of every message published to the test's trigger topic, oldest
    first, as its pull subscription on the emulator holds them (the `env` fixture makes it)."""
    return [(message_id, json.loads(data))
            for message_id, data in pubsub.published(stack.project, env.settings.trigger_topic)]


def store_secret(project: str, name: str, value: dict) -> None:
    """Put `value` as the latest version of secret `name` in the Secret Manager stand-in."""
    from utils import secret_manager_helper

    secret_manager_helper.create_secret(project, name)
    secret_manager_helper.add_secret_version(project, name, json.dumps(value))


def drain_through_function(client, stack, env, first: dict | None, message_id: str = "") -> list[int]:
    """Push `first` (if any) to the deployed function, then every message published to the test's
    trigger topic that has not been delivered yet (continuations, parallel parts, backfills a
    command published), as the push subscription would, until none is left; returns the HTTP
    status of each delivery."""
    codes, queue, seen = [], [(message_id, first)] if first else [], env.delivered
    queue += [m for m in published(stack, env) if m[0] not in seen]
    while queue:
        mid, payload = queue.pop(0)
        seen.add(mid)
        codes.append(deliver(client, payload, mid).status_code)
        queue += [m for m in published(stack, env) if m[0] not in seen and m not in queue]
    return codes
