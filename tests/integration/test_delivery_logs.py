"""The log lines of a delivery to the deployed function, on the local stack: one JSON object each,
carrying the entity, run and message ids for Cloud Logging, and never the API key."""

from __future__ import annotations

import io
import json
import logging

from ingestion.contract import logs


def test_every_line_of_a_delivery_is_one_json_object_with_its_ids_and_no_secret(
        env, demo_api, function_client):
    from tests.support.delivery import API_KEY, deliver

    env.copy_demo_configs()
    stream = io.StringIO()
    handler = logs.make_handler(logging.StreamHandler(stream), json_lines=True)
    logging.getLogger().addHandler(handler)
    try:
        assert deliver(function_client, {"entity": "demo_shop/orders"}, message_id="4242").status_code == 200
        deliver(function_client, {"entity": "demo_shop/nope"}, message_id="4243")
    finally:
        logging.getLogger().removeHandler(handler)

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]  # each line parses
    run = [e for e in entries if e.get("message_id") == "4242"]
    assert len(run) >= 3 and {e["severity"] for e in run} <= {"INFO", "WARNING"}
    for entry in run:
        assert entry["entity"] == "demo_shop/orders" and entry["run_id"].endswith("_4242")
        assert entry["logging.googleapis.com/labels"]["entity"] == "demo_shop/orders"
        assert entry["logging.googleapis.com/sourceLocation"]["file"].endswith(".py")
    assert any(e["message"].startswith("sync succeeded") for e in run)
    rejected = [e for e in entries if e.get("message_id") == "4243"]
    assert [e["severity"] for e in rejected] == ["ERROR"]
    assert "unknown entity 'demo_shop/nope'" in rejected[0]["message"]
    assert API_KEY not in stream.getvalue()
