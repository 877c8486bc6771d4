"""The function behind a push subscription on the local stack: how `publish --local`, `gaps --local
--publish` and `make demo` get messages processed the way Cloud Functions would (continuations and
parallel parts included), on Google's Pub/Sub emulator (wired in local/pubsub.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ingestion.contract.settings import ROOT, Settings
from local import pubsub
from local.stack import LocalStack, free_port, popen, wait_http

WAIT_SECONDS = 1800  # for every message, and everything it published, to be processed


def demo_workdir() -> Path:
    """The persistent local stack of `make demo` (INGEST_DEMO_DIR overrides it)."""
    return Path(os.environ.get("INGEST_DEMO_DIR", ROOT / ".local/demo")).resolve()


def start_function(stack: LocalStack, extra_env: dict[str, str]) -> str:
    """functions/main.py under functions-framework, as Cloud Functions runs it; returns its URL."""
    port = free_port()
    env = {**os.environ, **stack.env, **extra_env, "PYTHONUNBUFFERED": "1"}
    proc = popen(
        [str(Path(sys.executable).parent / "functions-framework"), "--target", "ingest",
         "--source", str(ROOT / "functions/main.py"), "--signature-type", "cloudevent",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env,
    )
    stack.procs.append(proc)  # stopped with the rest of the stack
    url = f"http://127.0.0.1:{port}/"
    wait_http(url, "functions-framework", proc)
    return url


def serve_topic(stack: LocalStack, topic: str, extra_env: dict[str, str] | None = None) -> str:
    """Start the function and push it every message of `topic`, which is also where it publishes
    its continuations and parallel parts; returns the function's URL."""
    url = start_function(stack, {**(extra_env or {}), "INGEST_TRIGGER_TOPIC": topic})
    pubsub.serve(stack.project, topic, url)
    return url


def wait_idle(stack: LocalStack, topic: str, timeout: float = WAIT_SECONDS) -> bool:
    """Wait until every message published to `topic` (and whatever its processing published) was
    processed or given up; False on timeout."""
    return pubsub.wait_idle(stack.project, topic, timeout)


def published_ids(stack: LocalStack, topic: str) -> list[str]:
    """Ids of the messages published to `topic` since `serve_topic`."""
    return [message_id for message_id, _ in pubsub.published(stack.project, topic)]


def run_rows(settings: Settings, message_ids: list[str]) -> list[dict]:
    """The ledger rows of these messages, by entity and time."""
    from utils import bq_helper

    return [dict(row.items()) for row in bq_helper.query(
        f"SELECT entity, message_id, status, pages, records, filtered, rows_merged, watermark, "
        f"watermark_value, error_message "
        f"FROM `{settings.project}.{settings.meta_dataset}.runs` "
        f"WHERE message_id IN UNNEST(@ids) ORDER BY entity, finished_at", {"ids": message_ids},
    ).result()]


def format_run(run: dict) -> str:
    return (f"  {run['entity']:<24} {run['status']:<10} pages={run['pages']} "
            f"records={run['records']} filtered={run['filtered']} merged={run['rows_merged']} "
            f"watermark={run['watermark'] or run['watermark_value']}"
            + (f" error={run['error_message']}" if run["error_message"] else ""))


def process(stack: LocalStack, topic: str, messages: list[dict],
            timeout: float = WAIT_SECONDS) -> str | None:
    """Publish `messages` to `topic` (served by `serve_topic`), wait until they and everything
    their runs published were processed, and print every run row. Returns what went wrong (a
    message whose last run failed, or was dead-lettered), None when nothing did."""
    from utils import pubsub_helper

    for message in messages:
        message_id = pubsub_helper.publish_json(stack.project, topic, message)
        print(f"published message {message_id}: {json.dumps(message, separators=(',', ':'))}",
              flush=True)
    if not wait_idle(stack, topic, timeout):
        return f"the runs did not finish within {timeout:.0f} s"
    ids = published_ids(stack, topic)
    runs = run_rows(Settings.from_env(), ids)
    print(f"runs of {len(ids)} message(s), continuations and parallel parts included:")
    for run in runs:
        print(format_run(run))
    last = {run["message_id"]: run for run in runs}  # by time: a message's last run wins
    failed = [run for run in last.values() if run["status"] == "failed"]
    if failed:
        return f"{len(failed)} message(s) failed, the first with: {failed[0]['error_message']}"
    if pubsub.dead_lettered(stack.project, topic) or set(last) != set(ids):
        return "a message was given up after repeated failures (see the runs above)"
    return None
