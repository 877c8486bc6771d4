"""`make demo`: the whole product on the local stack, end to end, through the real clients.

Starts fake-gcs-server, bqemulator, Google's Pub/Sub emulator, the Secret Manager stand-in, the demo
shop API and the function under functions-framework behind a push subscription; stores the API key
in Secret Manager; publishes one trigger message per demo entity; waits for the runs; prints row
counts, sample rows and the run ledger; and stops everything it started, also on failure or Ctrl-C.
Data persists under .local/demo, so a second `make demo` is an incremental run over the same tables
(and must leave the same counts).
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.contract.config import config_files, load_entity
from ingestion.contract.settings import Settings
from local import session
from local.demo_api import DemoShopApi
from local.stack import LocalStack, serve_in_thread

SOURCE = "demo_shop"
SECRET = "demo-shop-api"
TOPIC = "ingest-trigger"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def seed_secret(project: str) -> str:
    """A fresh demo API key, stored the way production stores credentials: in Secret Manager."""
    from utils import secret_manager_helper

    api_key = secrets.token_urlsafe(24)
    secret_manager_helper.create_secret(project, SECRET)
    secret_manager_helper.add_secret_version(project, SECRET, json.dumps({"api_key": api_key}))
    return api_key


def table_counts(settings: Settings, entities: list[str]) -> dict[str, int]:
    """Rows per target table, printed with a few sample rows."""
    from utils import bq_helper

    counts = {}
    print("\n=== Tables ===")
    for name in entities:
        entity = load_entity(name, settings.config_dir, settings.schema_dir)
        table = f"{settings.project}.{entity.target.dataset}.{entity.target.table}"
        keys = ", ".join(entity.merge_keys)
        count = next(iter(bq_helper.query(
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT TO_JSON_STRING(STRUCT({keys}))) AS k "
            f"FROM `{table}`").result()))
        counts[table] = count.n
        print(f"{table}: {count.n} rows ({count.k} distinct keys)")
        shown = ", ".join(entity.columns[:5])
        for row in bq_helper.query(f"SELECT {shown} FROM `{table}` ORDER BY {keys} LIMIT 3").result():
            print("   ", dict(row.items()))
    return counts


def print_runs(settings: Settings, message_ids: list[str]) -> list[dict]:
    """The ledger rows of this demo's messages, printed."""
    runs = session.run_rows(settings, message_ids)
    print("\n=== This demo's runs (ingest_meta.runs) ===")
    for run in runs:
        print(session.format_run(run))
    return runs


@dataclass
class DemoResult:
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)


def run_demo(workdir: Path) -> DemoResult:
    """Start everything under `workdir`, sync every demo entity through Pub/Sub, report, stop."""
    stack = LocalStack(workdir, persistent=True)
    api = None
    try:
        print("Starting the local stack (fake-gcs-server, bqemulator, Pub/Sub emulator, Secret "
              "Manager stand-in)...", flush=True)
        stack.start()
        stack.apply_env()
        settings = Settings.from_env()
        api = serve_in_thread(DemoShopApi(seed_secret(stack.project)))
        function_url = session.serve_topic(stack, TOPIC, {"DEMO_SHOP_API_URL": api.url})
        print(f"Demo API on {api.url}; function on {function_url}", flush=True)

        from utils import pubsub_helper

        entities = [n for n in config_files(settings.config_dir) if n.startswith(f"{SOURCE}/")]
        message_ids = []
        for name in entities:
            payload = {"entity": name, "sync_mode": "incremental"}
            message_ids.append(pubsub_helper.publish_json(stack.project, TOPIC, payload))
            print(f"Published {json.dumps(payload)} (message {message_ids[-1]})", flush=True)
        if not session.wait_idle(stack, TOPIC, timeout=300):
            print("FAILED: the runs did not finish within 300 s", file=sys.stderr)
            return DemoResult(ok=False)
        counts = table_counts(settings, entities)
        runs = print_runs(settings, message_ids)
        ok = len(runs) == len(message_ids) and all(r["status"] == "succeeded" for r in runs)
        return DemoResult(ok=ok and all(counts.values()), counts=counts)
    finally:
        if api:
            api.stop()
        stack.stop()


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupt)
    workdir = session.demo_workdir()
    started = time.monotonic()
    try:
        result = run_demo(workdir)
    except KeyboardInterrupt:
        print("\nInterrupted: everything started was stopped.", file=sys.stderr)
        return 130
    print(f"\nDemo {'succeeded' if result.ok else 'FAILED'} in {time.monotonic() - started:.1f}s "
          f"(data kept in {workdir}; `make clean-demo` resets it)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
