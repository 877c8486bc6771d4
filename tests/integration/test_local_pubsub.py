"""Pub/Sub on the local stack is Google's emulator, wired as production is: the function behind a
push subscription that redelivers what it fails and dead-letters what keeps failing."""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Request, Response

from local import pubsub, session
from local.pubsub_emulator import EmulatorMissing, launcher
from local.stack import terminate

SCHEMA = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"}]


def flaky_api(environ, start_response):
    """/up answers two records; /down is unavailable (503, retryable) for as long as it is asked."""
    if Request(environ).path == "/up":
        body = '{"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}'
        return Response(body, mimetype="application/json")(environ, start_response)
    return Response("down for maintenance", status=503)(environ, start_response)


@pytest.fixture
def function_on_topic(stack, env, serve):
    """functions/main.py under functions-framework, behind the test topic's push subscription,
    and the flaky API it reads."""
    serve(flaky_api, "FLAKY_API_URL")
    started = len(stack.procs)
    settings = env.settings
    session.serve_topic(stack, settings.trigger_topic, {
        "INGEST_BUCKET": settings.bucket, "INGEST_META_DATASET": settings.meta_dataset,
        "INGEST_CONFIG_DIR": str(settings.config_dir), "INGEST_SCHEMA_DIR": str(settings.schema_dir)})
    yield settings.trigger_topic
    terminate(stack.procs[started:])
    del stack.procs[started:]


def test_a_failing_message_is_redelivered_then_dead_lettered_and_a_good_one_acknowledged_once(
        stack, env, function_on_topic):
    for name in ("up", "down"):
        env.write(f"acme/{name}", {
            "base_url": "${FLAKY_API_URL}", "request": {"path": f"/{name}"}, "records": {"path": "items"},
            "pagination": {"type": "single"}, "merge_keys": ["id"], "http": {"max_retries": 0},
            "start_date": "2026-01-01", "target": {"dataset": f"flaky_{env.suffix}"}}, SCHEMA)

    problem = session.process(stack, function_on_topic, [{"entity": "acme/up"}, {"entity": "acme/down"}],
                              timeout=120)

    assert problem and "503" in problem
    runs = session.run_rows(env.settings, session.published_ids(stack, function_on_topic))
    assert [(r["entity"], r["status"]) for r in runs] == (
        [("acme/down", "failed")] * pubsub.MAX_DELIVERY_ATTEMPTS + [("acme/up", "succeeded")])
    assert pubsub.dead_lettered(stack.project, function_on_topic) == 1
    assert not pubsub.outstanding(stack.project, function_on_topic)


def test_without_the_emulator_the_stack_names_the_command_that_installs_it(tmp_path, monkeypatch):
    sdk = tmp_path / "google-cloud-sdk"
    (sdk / "bin").mkdir(parents=True)
    (sdk / "bin/gcloud").write_text(f"#!/bin/sh\necho {sdk}\n")
    (sdk / "bin/gcloud").chmod(0o755)
    monkeypatch.setenv("PATH", str(sdk / "bin"))

    with pytest.raises(EmulatorMissing) as missing:
        launcher()

    assert "gcloud components install pubsub-emulator" in str(missing.value)
    assert "apt-get install google-cloud-cli-pubsub-emulator" in str(missing.value)
