"""The log formats: JSON lines for Cloud Logging and readable text, fields capped with a visible
marker, and no secret in any line, not even in the URLs urllib3 logs when it retries."""

from __future__ import annotations

import json
import logging

from ingestion.contract import logs


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


def test_log_fields_are_capped_with_a_visible_marker():
    record = logging.LogRecord("ingestion.x", logging.ERROR, __file__, 1, "x" * 1_000_000, (), None)
    record.entity = "e" * 100_000
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = formatter.format(record)
        assert len(line) < 100_000 and "[truncated" in line


def test_secrets_never_reach_log_lines_even_from_urllib3_retries(caplog):
    """urllib3 logs each retried URL, query string included, at WARNING."""
    import socket

    import pytest

    from ingestion.source.auth import ApiKeyAuth
    from ingestion.source.credentials import AuthContext
    from ingestion.source.httprequest import HttpRequest
    from utils import requests_api

    logs.configure()
    logs.register_secret("sekrit-api-key")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    auth = ApiKeyAuth(AuthContext("local-project", {"api_key": "sekrit-api-key"}), secret="s",
                      name="key", location="query", value_key="api_key", prefix="")
    request = HttpRequest("GET", f"http://127.0.0.1:{port}/items")
    auth.apply(request)
    caplog.set_level(logging.WARNING)

    errors = []
    for method, body in (("GET", None), ("POST", {"q": 1})):  # a page GET (utils/fastget.py), urllib3
        with pytest.raises(requests_api.TransportError) as error:
            requests_api.send(requests_api.new_session(max_retries=2, backoff_factor=0), method,
                              request.url, params=request.params, json=body,
                              secret_params=auth.secret_params)
        errors.append(str(error.value))

    assert any("Retrying" in r.getMessage() for r in caplog.records)  # urllib3 did log the URL
    assert sum("retrying" in r.getMessage().lower() for r in caplog.records) == 4  # 2 + 2 retries
    assert "sekrit-api-key" not in caplog.text and "sekrit-api-key" not in " ".join(errors)


def test_raw_pages_are_scrubbed_of_every_secret_registered_so_far():
    import base64
    from urllib.parse import quote

    first, second = "scrub-first-9f2c", "scrub/second key+7"
    logs.register_secret(first)
    page = f'{{"next": "/items?token={first}&k={quote(second, safe="")}", "short": "abc"}}'.encode()
    assert first.encode() not in logs.scrub(page) and quote(second, safe="").encode() in logs.scrub(page)
    logs.register_secret(second)  # registered after a scrub: masked from now on, every form of it
    echoed = base64.b64encode(f"user:{second}".encode())
    scrubbed = logs.scrub(page + b" Basic " + echoed)
    assert b"scrub" not in scrubbed and b"second" not in scrubbed and b'"short": "abc"' in scrubbed
    assert scrubbed.count(b"REDACTED") == 3 and echoed not in scrubbed
