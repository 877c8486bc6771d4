"""Watermark state under concurrent writers (generation preconditions on fake-gcs-server), and
the log formats."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from ingestion import logs, state
from ingestion.config import EntityConfig
from utils import gcs_helper

ENTITY = EntityConfig("acme/items", {"merge_keys": ["id"]}, [])
T = lambda day: datetime(2026, 3, day, tzinfo=UTC)  # noqa: E731


def stored(env) -> str:
    return json.loads(gcs_helper.read(env.settings.bucket, "state/acme/items.json")[0])["watermark"]


def test_watermark_only_moves_forward(env):
    bucket = env.settings.bucket
    assert state.commit_watermark(ENTITY, bucket, T(5), "r1") == T(5)
    assert state.commit_watermark(ENTITY, bucket, T(3), "r2") == T(5)
    assert stored(env) == "2026-03-05T00:00:00Z"
    assert state.read_watermark(ENTITY, bucket) == T(5)


def race_after_first_read(mocker, competitor_watermark: str) -> None:
    """Fault injection: another run commits its watermark right after our first state read."""
    real_read = gcs_helper.read
    raced = []

    def read_then_race(bucket_name, path):
        result = real_read(bucket_name, path)
        if not raced:
            raced.append(True)
            competitor = {"watermark": competitor_watermark, "run_id": "other"}
            gcs_helper.upload(bucket_name, path, json.dumps(competitor))
        return result

    mocker.patch.object(gcs_helper, "read", side_effect=read_then_race)


def test_a_concurrent_newer_watermark_is_never_overwritten_by_an_older_one(env, mocker):
    """Our precondition fails, we re-read, and since T(9) is newer than our T(7) we leave it."""
    state.commit_watermark(ENTITY, env.settings.bucket, T(1), "r0")
    race_after_first_read(mocker, "2026-03-09T00:00:00Z")

    assert state.commit_watermark(ENTITY, env.settings.bucket, T(7), "mine") == T(9)
    assert stored(env) == "2026-03-09T00:00:00Z"


def test_a_lost_race_with_an_older_writer_retries_on_top_of_it(env, mocker):
    race_after_first_read(mocker, "2026-03-02T00:00:00Z")

    assert state.commit_watermark(ENTITY, env.settings.bucket, T(7), "mine") == T(7)
    assert stored(env) == "2026-03-07T00:00:00Z"


def make_record(message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("ingestion.x", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_json_logs_carry_severity_and_ids_for_cloud_logging():
    line = logs.JsonFormatter().format(make_record(
        "sync failed", entity="acme/items", run_id="r1", message_id="m1"))
    entry = json.loads(line)
    assert entry["severity"] == "WARNING" and entry["message"] == "sync failed"
    assert (entry["entity"], entry["run_id"], entry["message_id"]) == ("acme/items", "r1", "m1")


def test_text_logs_are_readable_with_the_ids_at_the_end():
    line = logs.TextFormatter().format(make_record("sync failed", entity="acme/items"))
    assert line.endswith("WARNING sync failed  [entity=acme/items]")


def test_secrets_never_reach_log_lines_even_from_urllib3_retries(caplog):
    """urllib3 logs each retried URL, query string included, at WARNING."""
    import socket

    import pytest

    from ingestion.auth import ApiKeyAuth
    from ingestion.credentials import AuthContext
    from ingestion.httprequest import HttpRequest
    from utils import requests_api

    logs.configure()
    logs.register_secret("sekrit-api-key")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    auth = ApiKeyAuth({"type": "api_key", "secret": "s", "name": "key", "in": "query"},
                      AuthContext("local-project", {"api_key": "sekrit-api-key"}))
    request = HttpRequest("GET", f"http://127.0.0.1:{port}/items")
    auth.apply(request)
    caplog.set_level(logging.WARNING)

    with pytest.raises(requests_api.TransportError) as error:
        requests_api.send(requests_api.new_session(max_retries=2, backoff_factor=0), "GET",
                          request.url, params=request.params, secret_params=auth.secret_params)

    assert any("Retrying" in r.getMessage() for r in caplog.records)  # urllib3 did log the URL
    assert "sekrit-api-key" not in caplog.text and "sekrit-api-key" not in str(error.value)
