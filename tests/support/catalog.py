"""The catalog entity (`shop/items`, served by the simulator in tests/support/apis/catalog.py) on
the local stack: write its config, run it (in process, or as a push delivery to the handler), and
read back what it loaded — the target table, the run ledger, the files in GCS, the state — to
compare with the simulator's ground truth."""

from __future__ import annotations

import json

from ingestion.contract.config import deep_merge
from ingestion.contract.payload import SyncRequest
from ingestion.run.entrypoint import handle_pubsub_envelope
from ingestion.run.pipeline import run_sync
from ingestion.warehouse.ledger import runs_table_id
from tests.support.apis import NOW
from tests.support.apis.catalog import CONFIG, SCHEMA
from tests.support.delivery import envelope
from utils import bq_helper, gcs_helper

ENTITY = "shop/items"


def sync(env, entity: str, mode: str = "incremental", start=None, end=None, now=NOW):
    return run_sync(SyncRequest(entity, mode, start, end), env.settings, now=now)


def setup(env, schema=SCHEMA, **changes) -> str:
    """Write the catalog entity (with `changes` merged into its config); returns its dataset."""
    dataset = f"shop_{env.suffix}"
    env.write(ENTITY, deep_merge(deep_merge(CONFIG, {"target": {"dataset": dataset}}), changes), schema)
    return dataset


def rows(env, dataset: str) -> dict[int, dict]:
    result = bq_helper.query(f"SELECT * FROM `{env.settings.project}.{dataset}.items`").result()
    loaded = [dict(r.items()) for r in result]
    by_id = {r["id"]: r for r in loaded}
    assert len(by_id) == len(loaded), "duplicate ids in the target table"
    return by_id


def runs(env) -> list[dict]:
    result = bq_helper.query(f"SELECT * FROM `{runs_table_id(env.settings)}` ORDER BY started_at")
    return [dict(r.items()) for r in result.result()]


def read_lines(env, prefix: str) -> list[dict]:
    paths = gcs_helper.list_paths(env.settings.bucket, prefix)
    return [json.loads(line) for path in paths
            for line in gcs_helper.read(env.settings.bucket, path)[0].splitlines()]


def deliver(env, payload: dict | None = None, message_id: str = "m1", attempt: int = 1, now=NOW):
    """One push delivery of a Pub/Sub message to the function's handler."""
    payload = payload or {"entity": ENTITY}
    return handle_pubsub_envelope(envelope(payload, message_id, attempt=attempt), env.settings, now=now)


def assert_table_matches_truth(env, dataset: str, catalog) -> dict[int, dict]:
    """Every item the API has, exactly once, with its current values; nothing else."""
    loaded, truth = rows(env, dataset), catalog.truth()
    assert sorted(loaded) == sorted(truth)
    for n, item in truth.items():
        row = loaded[n]
        assert (row["name"], row["price"], row["quantity"], row["updated_at"]) == (
            item["name"], item["price"], item["quantity"], item["updated_at"]), f"item {n}"
    return loaded


def stored_state(env) -> dict:
    return json.loads(gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")[0])


def newest_cursor(catalog) -> str:
    return max(i["updated_at"] for i in catalog.truth().values()).isoformat().replace("+00:00", "Z")
