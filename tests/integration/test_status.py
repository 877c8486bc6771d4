"""`python -m ingestion status` and the `entity_status` view, on a stack where one entity is fresh, one
late, one failing and one never run: every run a real delivery to the function against the demo
shop API, every fact read back through the command (text and JSON) and the view on bqemulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.contract.dates import parse_instant
from ingestion.ops.cli import main as cli
from tests.support.delivery import deliver
from utils import bq_helper

FRESH, LATE, FAILING, NEVER = ("demo_shop/orders", "demo_shop/customers", "demo_shop/orders_failing",
                               "demo_shop/orders_never")


def view_rows(env) -> dict[str, dict]:
    sql = f"SELECT * FROM `{env.settings.project}.{env.settings.meta_dataset}.entity_status`"
    return {row["entity"]: dict(row.items()) for row in bq_helper.query(sql).result()}


def status_json(capsys, *names: str) -> tuple[int, dict[str, dict]]:
    capsys.readouterr()
    code = cli(["status", "--json", *names])
    return code, {e["entity"]: e for e in json.loads(capsys.readouterr().out)["entities"]}


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def four_entities(env, demo_api, function_client):
    """orders hourly and synced (fresh); customers synced, objective one second (late by the time it
    is read); orders_failing synced, then a run answered 404 (failing); orders_never scheduled,
    never run. The view is created before any run: it follows the ledger from then on."""
    env.copy_demo_configs()
    env.edit_config(FRESH, lambda spec: spec.update(schedule={"cron": "0 * * * *"}))
    env.edit_config(LATE, lambda spec: spec.update(freshness="PT1S"))
    orders = json.loads((env.settings.config_dir / f"{FRESH}.json").read_text())
    schema = json.loads((env.settings.schema_dir / f"{FRESH}.json").read_text())
    for name, cron in ((FAILING, "*/30 * * * *"), (NEVER, "0 6 * * *")):
        target = {**orders["target"], "table": name.split("/")[1]}
        env.write(name, {**orders, "target": target, "schedule": {"cron": cron}}, schema)
    assert cli(["status", "--create-view"]) == 0
    assert {row["state"] for row in view_rows(env).values()} == {"NEVER"}  # nothing ran: not even a ledger

    for number, name in enumerate((LATE, FRESH, FAILING)):
        assert deliver(function_client, {"entity": name}, message_id=f"70{number}").status_code == 200
    late_synced = time.monotonic()
    env.edit_config(FAILING, lambda spec: spec["request"].update(path="/v1/missing"))
    assert deliver(function_client, {"entity": FAILING}, message_id="710").status_code == 200  # acked
    time.sleep(max(0.0, 2.1 - (time.monotonic() - late_synced)))  # late in whole seconds too (the view)
    return demo_api


def test_status_text_json_and_view_tell_fresh_late_failing_and_never_apart(env, four_entities, capsys):
    demo_api = four_entities
    orders, customers = demo_api.data["orders"], demo_api.data["customers"]
    newest_order = max(parse_instant(o["updated_at"]) for o in orders)
    newest_customer = max(parse_instant(c["updated_at"]) for c in customers)

    code, found = status_json(capsys)

    assert code == 1  # late, failing and never-run entities need attention
    assert {name: e["state"] for name, e in found.items()} == {
        FRESH: "OK", LATE: "LATE", FAILING: "FAILING", NEVER: "NEVER"}
    fresh, late, failing, never = (found[n] for n in (FRESH, LATE, FAILING, NEVER))
    assert fresh["objective_seconds"] == 2 * 3600 and failing["objective_seconds"] == 3600
    assert late["objective_seconds"] == 1 and never["objective_seconds"] == 2 * 86400
    assert (fresh["rows"], late["rows"], failing["rows"], never["rows"]) == (
        len(orders), len(customers), len(orders), None)
    assert fresh["watermark"] == failing["watermark"] == rfc3339(newest_order)
    assert late["watermark"] == rfc3339(newest_customer)
    now = datetime.now(UTC)
    for entity in (fresh, late, failing):
        assert now - timedelta(minutes=5) < parse_instant(entity["last_success"]) <= now
        assert entity["last_error"] is None or entity is failing
    assert late["age_seconds"] >= 1 and fresh["age_seconds"] < 2 * 3600
    assert "404" in failing["last_error"] and "/v1/missing" in failing["last_error"]
    assert (failing["runs_24h"], failing["failures_24h"]) == (2, 1)
    assert (fresh["runs_24h"], fresh["failures_24h"]) == (1, 0)
    assert never == {**never, "last_success": None, "watermark": None, "age_seconds": None,
                     "last_error": None, "runs_24h": 0, "failures_24h": 0}

    assert cli(["status"]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[:3] == ["ENTITY", "STATE", "AGE/OBJECTIVE"]
    lines = {line.split()[0]: line for line in text[1:-1]}
    assert lines[FRESH].split()[1] == "OK" and "/2h00m" in lines[FRESH]
    assert f"{len(orders):,}" in lines[FRESH] and rfc3339(newest_order) in lines[FRESH]
    assert lines[LATE].split()[1] == "LATE" and "/1s" in lines[LATE]
    assert lines[FAILING].split()[1] == "FAILING" and "404" in lines[FAILING]
    assert lines[NEVER].split()[1:3] == ["NEVER", "-/2d00h"] and " never " in lines[NEVER]
    assert text[-1] == "4 entities: 1 OK, 1 LATE, 1 FAILING, 1 NEVER"

    assert cli(["status", FRESH]) == 0  # only the fresh one: nothing needs attention
    capsys.readouterr()

    view = view_rows(env)  # created before the runs: a view reads the ledger as it is now
    assert set(view) == set(found)
    for name, entity in found.items():
        row = view[name]
        assert (row["state"], row["objective_seconds"], row["watermark"], row["last_error"],
                row["runs_24h"], row["failures_24h"], row["dataset"], row["table"]) == (
            entity["state"], entity["objective_seconds"], entity["watermark"], entity["last_error"],
            entity["runs_24h"], entity["failures_24h"], entity["dataset"], entity["table"])
        assert (row["last_success"] and rfc3339(row["last_success"])) == (
            entity["last_success"] and rfc3339(parse_instant(entity["last_success"])))
        assert (row["age_seconds"] is None) == (entity["age_seconds"] is None)


def test_an_unreadable_config_is_one_error_line_and_the_others_are_listed(env, capsys):
    env.copy_demo_configs()
    (env.settings.config_dir / "demo_shop/customers.json").write_text("{")

    code = cli(["status"])

    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("ERROR demo_shop/customers: ") and "not valid JSON" in err
    assert "demo_shop/orders" in out and "1 entity: 1 NEVER" in out
