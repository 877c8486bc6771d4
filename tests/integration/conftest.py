"""Fixtures of the integration tests: one local Google Cloud stack per test session, and per-test
isolation (a fresh bucket, datasets and config folder for every test that syncs)."""

from __future__ import annotations

import json
import uuid

import functions_framework
import pytest

from ingestion.contract.settings import ROOT, Settings
from local.demo_api import DemoShopApi
from local.stack import LocalStack, serve_in_thread
from tests.support.delivery import API_KEY, Env


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    local = LocalStack(tmp_path_factory.mktemp("stack")).start()
    local.apply_env()
    yield local
    local.stop()


@pytest.fixture
def env(stack, tmp_path, monkeypatch) -> Env:
    from local import pubsub
    from utils import gcs_helper

    suffix = uuid.uuid4().hex[:10]
    bucket = f"test-{suffix}"
    gcs_helper.client().create_bucket(bucket)
    settings = Settings(project=stack.project, bucket=bucket, meta_dataset=f"meta_{suffix}",
                        config_dir=tmp_path / "config", schema_dir=tmp_path / "schema",
                        trigger_topic=f"trigger-{suffix}")
    pubsub.tap(stack.project, settings.trigger_topic)  # what the test publishes: see published()
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


@pytest.fixture(scope="session")
def function_client():
    """The deployed entry point (functions/main.py) as functions-framework serves it."""
    app = functions_framework.create_app("ingest", str(ROOT / "functions/main.py"), "cloudevent")
    return app.test_client()


@pytest.fixture
def catalog(serve):
    """The type-messy catalog API (tests/support/apis/catalog.py) on 127.0.0.1, with its ground truth."""
    from tests.support.apis.catalog import CatalogApi

    api = CatalogApi()
    serve(api, "CATALOG_API_URL")
    return api


@pytest.fixture
def cloud(tmp_path):
    """The deploy scripts' fake Google Cloud (tests/support/fakecloud.py), fresh per test."""
    from tests.support.fakecloud import fake_cloud

    return fake_cloud(tmp_path)
