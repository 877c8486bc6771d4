"""Hardening found by black-box runs: long backfills (continuations and parallel parts in every
mode, through the deployed entry point), follow-up messages that fail loudly, rejected messages
without side effects, secrets in no persisted text, bounded inputs and log lines of a delivery, and
incremental runs that do not wait for a backfill. (Capped log fields: tests/unit/test_logs.py.)"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract import logs
from ingestion.contract.errors import LeaseHeld
from ingestion.planning.jobs import load_job
from ingestion.warehouse.ledger import runs_table_id
from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.catalog import CatalogApi
from tests.support.catalog import (
    ENTITY,
    assert_table_matches_truth,
    deliver,
    newest_cursor,
    rows,
    runs,
    setup,
    stored_state,
)
from tests.support.delivery import deliver as push
from tests.support.delivery import drain_through_function, published, store_secret
from utils import bq_helper, gcs_helper

WIDE_STEPS = {"date_filter": {"step": "P60D"}}  # a few windows from 2026-03-01 to today


LONG_JOBS = {
    "incremental, continued": ({"sync_mode": "incremental"}, None),
    "incremental_window, continued": ({"sync_mode": "incremental_window", "start_date": "2026-01-01",
                                       "end_date": "2026-11-01"}, None),
    "incremental_window, parallel": ({"sync_mode": "incremental_window", "start_date": "2026-01-01",
                                      "end_date": "2026-11-01"}, 3),
    "historical_full, continued": ({"sync_mode": "historical_full"}, None),
    "historical_full, parallel": ({"sync_mode": "historical_full"}, 3),
}


@pytest.mark.parametrize("case", list(LONG_JOBS))
def test_a_long_job_runs_to_the_end_through_the_function_in_every_mode(
        env, catalog, stack, function_client, monkeypatch, case):
    """One window per invocation (no time budget): every job continues, message after message,
    and a parallel one fans out first; the table ends complete, the job succeeded."""
    message, parallel = LONG_JOBS[case]
    dataset = setup(env, **WIDE_STEPS)
    monkeypatch.setenv("INGEST_TIME_BUDGET_SECONDS", "0")
    first = {"entity": ENTITY, **message, **({"parallel": parallel} if parallel else {})}

    codes = drain_through_function(function_client, stack, env, first, "long-1")

    assert set(codes) == {200}
    ledger = runs(env)
    assert {r["status"] for r in ledger} == {"continued", "succeeded"}, ledger
    assert load_job(env.settings.bucket, ENTITY, "long-1").status == "succeeded"
    assert len(ledger) > (4 if parallel else 3)  # really one window per run
    if parallel:
        assert sorted({p.get("chunk") for _, p in published(stack, env)} - {None}) == [0, 1, 2]
    assert_table_matches_truth(env, dataset, catalog)
    assert stored_state(env)["watermark"] == newest_cursor(catalog)


def test_run_continues_an_incremental_window_backfill_in_process(env, catalog, monkeypatch, capsys):
    """The `run` command continues a long backfill itself (it used to stop after one budget)."""
    from ingestion.ops import cli

    dataset = setup(env, **WIDE_STEPS)
    settings = replace(env.settings, time_budget_seconds=0, trigger_topic="")
    message = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-01-01",
               "end_date": "2026-11-01"}

    assert cli.run_message(message, settings) == 0

    assert "succeeded" in capsys.readouterr().out
    assert_table_matches_truth(env, dataset, catalog)


def test_a_follow_up_message_that_cannot_run_fails_its_job_loudly(env, catalog, stack, caplog):
    setup(env)
    env.settings = replace(env.settings, time_budget_seconds=0)
    window = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-03-01",
              "end_date": "2026-03-10"}
    assert deliver(env, window, "bf").status == "continued"
    [(_, follow_up)] = published(stack, env)
    caplog.set_level(logging.ERROR)

    # a part of the job that names a part it does not have, and one that is not even valid
    assert deliver(env, {**follow_up, "chunk": 7}, "bad-part") is None
    assert deliver(env, {**follow_up, "sync_mode": "historical_full"}, "bad-mode") is None

    job = load_job(env.settings.bucket, ENTITY, "bf")
    assert job.status == "failed" and "no part 7" in job.error
    ledger = {r["message_id"]: r for r in runs(env)}
    assert ledger["bad-part"]["status"] == "failed" and ledger["bad-part"]["job_id"] == "bf"
    assert "planned as incremental_window" in ledger["bad-mode"]["error_message"]
    assert any("job bf is marked failed" in r.getMessage() for r in caplog.records)
    # a continuation that does not parse at all also fails its job, with the job named
    bad = base64.b64encode(json.dumps({**follow_up, "chunk": -1}).encode()).decode()
    from ingestion.run.entrypoint import handle_pubsub_envelope

    handle_pubsub_envelope({"message": {"data": bad, "messageId": "unparsable"}}, env.settings)
    assert {r["message_id"]: r for r in runs(env)}["unparsable"]["job_id"] == "bf"


def test_a_message_for_an_unknown_job_is_refused_and_recorded(env, catalog):
    setup(env)
    assert deliver(env, {"entity": ENTITY, "sync_mode": "incremental_window", "job": "nope"}) is None
    [run] = runs(env)
    assert run["status"] == "failed" and "job nope does not exist" in run["error_message"]


def test_a_rejected_message_creates_and_writes_nothing(env, catalog):
    dataset = setup(env)

    assert deliver(env, {"entity": ENTITY, "item": "x"}) is None

    [run] = runs(env)  # the run ledger is the one record of it
    assert run["status"] == "failed" and "has no fan_out" in run["error_message"]
    assert bq_helper.get_table(f"{env.settings.project}.{dataset}.items") is None
    assert gcs_helper.list_paths(env.settings.bucket, "") == []
    assert catalog.requests == []


class EchoingApi(SimApi):
    """An API that answers 400 (or 503) with a body echoing the request, credentials included."""

    def __init__(self, status: int = 400):
        super().__init__()
        self.status = status

    def route(self, request: Request) -> Response:
        echo = {"headers": dict(request.headers), "url": request.url}
        return json_response({"error": "invalid request", "request": echo,
                              "hint": f"token was {request.headers.get('Authorization', '')[7:]}"},
                             self.status)


def echo_entity(env, serve, status: int) -> tuple[str, str]:
    token = fake_credential("echoed-token")
    store_secret(env.settings.project, f"echo-{env.suffix}", {"token": token})
    serve(EchoingApi(status), "ECHO_API_URL")
    dataset = f"echo_{env.suffix}"
    env.write("echo/items", {
        "base_url": "${ECHO_API_URL}", "request": {"path": "/items", "params": {"q": "x"}},
        "records": {"path": "data"}, "pagination": {"type": "single"}, "merge_keys": ["id"],
        "start_date": "2026-03-01", "auth": {"type": "bearer", "secret": f"echo-{env.suffix}"},
        "http": {"max_retries": 1, "backoff_factor": 0},
        "target": {"dataset": dataset, "table": "items"}},
        [{"name": "id", "type": "INT64"}])
    return token, dataset


def everything_persisted(env) -> str:
    """Every GCS object (with its metadata) and every BigQuery row of the test, as text."""
    bucket = env.settings.bucket
    texts = [f"{path} {meta} {gcs_helper.read(bucket, path)[0]!r}"
             for path, meta in gcs_helper.list_with_metadata(bucket, "")]
    ledger = bq_helper.query(f"SELECT * FROM `{runs_table_id(env.settings)}`").result()
    return "\n".join(texts + [json.dumps(dict(row.items()), default=str) for row in ledger])


def test_a_credential_echoed_in_an_error_body_is_persisted_nowhere(env, serve, function_client):
    token, _ = echo_entity(env, serve, 400)
    stream = io.StringIO()
    handler = logs.make_handler(logging.StreamHandler(stream), json_lines=True)
    logging.getLogger().addHandler(handler)
    try:
        response = push(function_client, {"entity": "echo/items"}, "echo-1")
    finally:
        logging.getLogger().removeHandler(handler)

    assert response.status_code == 200  # permanent: acknowledged
    [run] = runs(env)
    assert run["status"] == "failed" and "HTTP 400" in run["error_message"]
    assert "REDACTED" in run["error_message"]
    assert token not in everything_persisted(env)
    assert load_job(env.settings.bucket, "echo/items", "echo-1").status == "failed"
    assert "invalid request" in stream.getvalue() and token not in stream.getvalue()


def test_a_retryable_error_hands_pub_sub_no_secret(env, serve):
    token, _ = echo_entity(env, serve, 503)

    with pytest.raises(Exception) as raised:
        deliver(env, {"entity": "echo/items"}, "echo-2")

    chain, error = [], raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert "HTTP 503" in chain[0] and all(token not in text for text in chain)
    assert token not in everything_persisted(env)


def test_an_oversized_message_and_a_huge_entity_name_get_short_clear_errors(env, catalog, function_client):
    stream = io.StringIO()
    handler = logs.make_handler(logging.StreamHandler(stream), json_lines=True)
    logging.getLogger().addHandler(handler)
    try:
        push(function_client, {"entity": "a/" + "b" * 10_000}, "huge-name")
        push(function_client, {"entity": ENTITY, "note": "x" * 100_000}, "huge-message")
    finally:
        logging.getLogger().removeHandler(handler)

    lines = stream.getvalue().splitlines()
    assert lines and max(map(len, lines)) < 10_000
    ledger = {r["message_id"]: r for r in runs(env)}
    assert "is too long" in ledger["huge-name"]["error_message"]
    assert "a trigger message is at most" in ledger["huge-message"]["error_message"]
    assert all(len(r["entity"]) <= 200 for r in ledger.values())


class GatedCatalog(CatalogApi):
    """Holds the requests of windows starting before `hold_before` until `opened` is set: a
    backfill caught in the middle of its run."""

    def __init__(self, hold_before: datetime):
        super().__init__()
        self.hold_before, self.opened, self.held = hold_before, threading.Event(), threading.Event()

    def route(self, request: Request) -> Response:
        if datetime.fromisoformat(request.args["since"]) < self.hold_before:
            self.held.set()
            self.opened.wait(60)
        return super().route(request)


def test_an_incremental_run_loads_now_what_a_running_backfill_does_not_hold(env, serve):
    api = GatedCatalog(hold_before=datetime(2026, 3, 4, tzinfo=UTC))
    serve(api, "CATALOG_API_URL")
    dataset = setup(env)
    backfill = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-03-01",
                "end_date": "2026-03-04T00:00:00Z"}
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(backfill=deliver(env, backfill, "bf")))
    thread.start()
    assert api.held.wait(30)  # the backfill holds 03-01 → 03-04 and is fetching

    tick = deliver(env, {"entity": ENTITY}, "tick")

    assert tick.status == "succeeded" and tick.rows_merged > 0  # loaded now, not skipped
    later = {n for n, i in api.truth().items() if i["updated_at"] >= datetime(2026, 3, 4, tzinfo=UTC)}
    assert later and set(rows(env, dataset)) == later
    assert stored_state(env)["watermark"] is None  # a hole before it: the watermark waits
    assert load_job(env.settings.bucket, ENTITY, "tick").yielded[0]["job"] == "bf"
    api.opened.set()
    thread.join(60)
    assert outcome["backfill"].status == "succeeded"
    assert_table_matches_truth(env, dataset, api)
    assert stored_state(env)["watermark"] == newest_cursor(api)  # the hole filled: it moves


def test_an_incremental_run_waits_for_a_backfill_that_holds_its_whole_range(env, serve):
    api = GatedCatalog(hold_before=datetime(2026, 3, 11, tzinfo=UTC))
    serve(api, "CATALOG_API_URL")
    dataset = setup(env)
    backfill = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-03-01"}
    thread = threading.Thread(target=lambda: deliver(env, backfill, "bf"))
    thread.start()
    assert api.held.wait(30)

    with pytest.raises(LeaseHeld):  # deferred: Pub/Sub redelivers it after the backfill
        deliver(env, {"entity": ENTITY}, "tick")
    api.opened.set()
    thread.join(60)

    assert deliver(env, {"entity": ENTITY}, "tick", attempt=2, now=NOW + timedelta(minutes=1)).status \
        == "succeeded"
    assert_table_matches_truth(env, dataset, api)


def test_run_local_twice_keeps_the_refresh_token_the_provider_rotated(tmp_path, serve):
    """The first run rotates the refresh token and writes the new one back to the local Secret
    Manager; the second must use it, not re-store the file's dead one."""
    import os
    import subprocess
    import sys

    from ingestion.contract.settings import ROOT
    from tests.support.apis import OAuthProvider, ProtectedApi

    client_secret, refresh_token = fake_credential("client"), fake_credential("rt")
    api = ProtectedApi(OAuthProvider("cid", client_secret, refresh_token), [{"id": 1}, {"id": 2}])
    serve(api, "ROTATING_API_URL")
    configs, schemas = tmp_path / "config" / "rot", tmp_path / "schema" / "rot"
    configs.mkdir(parents=True)
    schemas.mkdir(parents=True)
    (configs / "items.json").write_text(json.dumps({
        "base_url": "${ROTATING_API_URL}", "request": {"path": "/items"}, "records": {"path": "data"},
        "pagination": {"type": "single"}, "merge_keys": ["id"], "start_date": "2026-03-01",
        "auth": {"type": "oauth2_refresh_token", "secret": "rot-api", "token_url": "/token"},
        "http": {"max_retries": 1, "backoff_factor": 0}, "target": {"dataset": "rot"}}))
    (schemas / "items.json").write_text(json.dumps([{"name": "id", "type": "INT64"}]))
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"rot-api": {"client_id": "cid", "client_secret": client_secret,
                                                    "refresh_token": refresh_token}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "BIGQUERY_", "SECRET_",
                                                                    "PUBSUB_", "INGEST_", "GOOGLE_"))}
    env.update(INGEST_CONFIG_DIR=str(tmp_path / "config"), INGEST_SCHEMA_DIR=str(tmp_path / "schema"),
               INGEST_DEMO_DIR=str(tmp_path / "stack"), INGEST_LOCAL_SECRETS=str(secrets_file))

    def run_local() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ingestion", "run", "rot/items", "--local"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    first = run_local()
    assert first.returncode == 0, first.stdout + first.stderr
    api.oauth.expire_access_tokens()  # the second run must refresh, with the rotated token
    second = run_local()

    assert second.returncode == 0, second.stdout + second.stderr
    assert "rot/items: succeeded" in second.stdout
    assert api.oauth.grants == ["refresh_token", "refresh_token"]
    assert refresh_token not in api.oauth.refresh_tokens  # it was rotated: the file's is dead
