"""Fan-out items read from a parent endpoint and from a parent entity's loaded table, end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingestion.contract.errors import ConfigError
from ingestion.contract.payload import SyncRequest
from ingestion.run.pipeline import run_sync
from tests.support.fanout import EXPECTED, SCHEMA_ITEMS, AccountsApi, child_config, loaded
from utils import gcs_helper

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def test_items_from_a_parent_endpoint(env, serve):
    api = AccountsApi()
    serve(api, "ACCOUNTS_API_URL")
    dataset = f"fan_{env.suffix}"
    parent = {"path": "/accounts", "records_path": "accounts", "value_path": "id",
              "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "after"}}
    env.write("acme/items", child_config({"column": "account", "from_endpoint": parent}, dataset),
              SCHEMA_ITEMS)

    run_sync(SyncRequest("acme/items", "incremental"), env.settings, now=NOW)

    assert loaded(env, dataset) == EXPECTED
    assert "/accounts/acc%2F2/items" in [r.environ["RAW_URI"] for r in api.requests]
    state, _ = gcs_helper.read(env.settings.bucket, "state/acme/items/acc%2F2.json")
    assert json.loads(state)["watermark"] == "2026-03-02T00:00:00Z"
    empty, _ = gcs_helper.read(env.settings.bucket, "state/acme/items/acc-3.json")
    # no records, no watermark: the next run starts at start_date again (the window is covered)
    assert json.loads(empty)["watermark"] is None and json.loads(empty)["covered"]


def test_items_from_a_parent_entitys_table(env, serve):
    serve(AccountsApi(), "ACCOUNTS_API_URL")
    dataset = f"fan_{env.suffix}"
    env.write("acme/accounts", {
        "base_url": "${ACCOUNTS_API_URL}", "start_date": "2026-03-01", "request": {"path": "/accounts"},
        "records": {"path": "accounts"}, "merge_keys": ["id"], "target": {"dataset": dataset},
        "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "after"}},
        [{"name": "id", "type": "STRING"}, {"name": "name", "type": "STRING"}])
    env.write("acme/items", child_config({"column": "account", "from_entity": {
        "entity": "acme/accounts", "column": "id"}}, dataset), SCHEMA_ITEMS)

    run_sync(SyncRequest("acme/accounts", "incremental"), env.settings, now=NOW)
    run_sync(SyncRequest("acme/items", "incremental"), env.settings, now=NOW)

    assert loaded(env, dataset) == EXPECTED


def test_a_child_run_before_its_parent_was_loaded_fails_clearly(env, serve):
    serve(AccountsApi(), "ACCOUNTS_API_URL")
    dataset = f"fan_{env.suffix}"
    env.write("acme/accounts", {
        "base_url": "${ACCOUNTS_API_URL}", "start_date": "2026-03-01", "request": {"path": "/accounts"},
        "records": {"path": "accounts"}, "pagination": {"type": "single"}, "merge_keys": ["id"],
        "target": {"dataset": dataset}}, [{"name": "id", "type": "STRING"}])
    env.write("acme/items", child_config({"column": "account", "from_entity": {
        "entity": "acme/accounts", "column": "id"}}, dataset), SCHEMA_ITEMS)
    with pytest.raises(ConfigError, match="acme/accounts has not been loaded yet"):
        run_sync(SyncRequest("acme/items", "incremental"), env.settings, now=NOW)
