"""Shared fixtures: one local Google Cloud stack per test session, and per-test isolation
(a fresh bucket, datasets and config folder for every test that syncs)."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import functions_framework
import pytest

from ingestion.contract.settings import ROOT, Settings
from local.demo_api import DemoShopApi
from local.pubsub_standin import pubsub_message, push_envelope, push_headers
from local.stack import LocalStack, serve_in_thread

API_KEY = "test-key-not-a-secret"


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    local = LocalStack(tmp_path_factory.mktemp("stack")).start()
    local.apply_env()
    yield local
    local.stop()


@dataclass
class Env:
    """One test's world: its own bucket, meta dataset and config/schema folders."""

    settings: Settings
    tmp: Path
    suffix: str

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


@pytest.fixture
def env(stack, tmp_path, monkeypatch) -> Env:
    from utils import gcs_helper, pubsub_helper

    suffix = uuid.uuid4().hex[:10]
    bucket = f"test-{suffix}"
    gcs_helper.client().create_bucket(bucket)
    settings = Settings(project=stack.project, bucket=bucket, meta_dataset=f"meta_{suffix}",
                        config_dir=tmp_path / "config", schema_dir=tmp_path / "schema",
                        trigger_topic=f"trigger-{suffix}")
    pubsub_helper.ensure_topic(stack.project, settings.trigger_topic)
    settings.config_dir.mkdir()
    settings.schema_dir.mkdir()
    for var, value in {"INGEST_BUCKET": bucket, "INGEST_META_DATASET": settings.meta_dataset,
                       "INGEST_CONFIG_DIR": str(settings.config_dir),
                       "INGEST_SCHEMA_DIR": str(settings.schema_dir),
                       "INGEST_TRIGGER_TOPIC": settings.trigger_topic}.items():
        monkeypatch.setenv(var, value)
    return Env(settings, tmp_path, suffix)


@pytest.fixture(scope="session")
def demo_secret(stack) -> str:
    """The demo API key stored in the Secret Manager stand-in, through the real client."""
    from utils import secret_manager_helper

    secret_manager_helper.create_secret(stack.project, "demo-shop-api")
    secret_manager_helper.add_secret_version(stack.project, "demo-shop-api",
                                             json.dumps({"api_key": API_KEY}))
    return API_KEY


@pytest.fixture
def demo_api(demo_secret, monkeypatch):
    """The bundled demo shop API on 127.0.0.1, with its ground-truth data."""
    api = DemoShopApi(demo_secret)
    served = serve_in_thread(api)
    monkeypatch.setenv("DEMO_SHOP_API_URL", served.url)
    yield api
    served.stop()


TOPIC = "projects/local-project/topics/ingest-trigger"


def envelope(payload, message_id: str = "1001", raw: bytes | None = None,
             attempt: int | None = None) -> dict:
    data = raw if raw is not None else json.dumps(payload).encode()
    message = pubsub_message(data, message_id, "2026-11-20T10:00:00.123456789Z")
    return push_envelope(message, "projects/local-project/subscriptions/ingest-trigger-push", attempt)


@pytest.fixture(scope="session")
def function_client():
    """The deployed entry point (functions/main.py) as functions-framework serves it."""
    app = functions_framework.create_app("ingest", str(ROOT / "functions/main.py"), "cloudevent")
    return app.test_client()


def deliver(client, payload=None, message_id: str = "1001", raw: bytes | None = None,
            attempt: int | None = None):
    """POST a Pub/Sub push CloudEvent (binary mode, as Eventarc sends it); returns the response."""
    body = envelope(payload, message_id, raw, attempt)
    return client.post("/", json=body, headers=push_headers(body["message"], TOPIC))


def published(stack, env) -> list[tuple[str, dict]]:
    """(message id, payload) of every message published to the test's trigger topic."""
    topic = f"projects/{env.settings.project}/topics/{env.settings.trigger_topic}"
    return [(m["messageId"], json.loads(base64.b64decode(m["data"])))
            for m in stack.pubsub.published if m["topic"] == topic]


def store_secret(project: str, name: str, value: dict) -> None:
    """Put `value` as the latest version of secret `name` in the Secret Manager stand-in."""
    from utils import secret_manager_helper

    secret_manager_helper.create_secret(project, name)
    secret_manager_helper.add_secret_version(project, name, json.dumps(value))


@pytest.fixture
def serve(monkeypatch):
    """serve(app, env_var): run a simulator on 127.0.0.1 and point `env_var` (a base_url) at it."""
    served = []

    def start(app, env_var: str) -> str:
        served.append(serve_in_thread(app))
        monkeypatch.setenv(env_var, served[-1].url)
        return served[-1].url

    yield start
    for item in served:
        item.stop()


@pytest.fixture
def catalog(serve):
    """The type-messy catalog API (tests/apis/catalog.py) on 127.0.0.1, with its ground truth."""
    from tests.apis.catalog import CatalogApi

    api = CatalogApi()
    serve(api, "CATALOG_API_URL")
    return api
