"""The command line a data engineer uses: scaffold → validate → run → publish, against the local
stack and APIs served on 127.0.0.1."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import load_entity
from ingestion.ops.cli import main as cli
from tests.support.delivery import published
from tests.support.rawpages import file_pages
from utils import bq_helper

WIDGETS = [
    {"id": n, "name": f"widget {n}", "unit-price": 2.5 if n % 2 else 3, "active": n % 3 != 0,
     "updated_at": f"2026-11-{10 + n:02d}T08:00:00Z", "launched": f"2025-0{1 + n % 9}-15",
     "maker": {"name": "Acme", "country": "FR"}, "tags": ["a", f"t{n}"],
     "parts": [{"sku": f"P{n}", "qty": n}], "note": None}
    for n in range(1, 8)
]


class WidgetApi:
    """Two pages linked by `links.next`: the shape scaffold has to recognise."""

    def __call__(self, environ, start_response):
        request = Request(environ)
        page = int(request.args.get("page", 1))
        rows = WIDGETS[:4] if page == 1 else WIDGETS[4:]
        base = request.host_url.rstrip("/")
        body = {"data": rows, "links": {"next": f"{base}/v2/widgets?page=2" if page == 1 else None}}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


def table_rows(env, dataset: str, table: str, order: str = "id") -> list[dict]:
    sql = f"SELECT * FROM `{env.settings.project}.{dataset}.{table}` ORDER BY {order}"
    return [dict(r.items()) for r in bq_helper.query(sql).result()]


def test_scaffold_proposes_a_config_and_schema_that_validate(env, tmp_path, capsys):
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"data": WIDGETS, "meta": {"total_pages": 3}}))

    assert cli(["scaffold", "acme/widgets", str(sample)]) == 0

    out = capsys.readouterr().out
    config = json.loads((env.settings.config_dir / "acme/widgets.json").read_text())
    fields = {f["name"]: f for f in json.loads((env.settings.schema_dir / "acme/widgets.json").read_text())}
    assert config["records"] == {"path": "data", "fields": {"unit_price": "unit-price"}}
    assert config["merge_keys"] == ["id"] and config["cursor_field"] == "updated_at"
    assert config["pagination"] == {"type": "page_number", "page_param": "page",
                                    "total_pages_path": "meta.total_pages"}
    assert {n: (f["type"], f["mode"]) for n, f in fields.items() if n != "maker" and n != "parts"} == {
        "id": ("INT64", "REQUIRED"), "name": ("STRING", "NULLABLE"),
        "unit_price": ("FLOAT64", "NULLABLE"), "active": ("BOOL", "NULLABLE"),
        "updated_at": ("TIMESTAMP", "NULLABLE"), "launched": ("DATE", "NULLABLE"),
        "tags": ("STRING", "REPEATED"), "note": ("STRING", "NULLABLE")}
    assert fields["maker"]["type"] == "RECORD" and fields["maker"]["mode"] == "NULLABLE"
    assert [f["name"] for f in fields["maker"]["fields"]] == ["name", "country"]
    assert (fields["parts"]["type"], fields["parts"]["mode"]) == ("RECORD", "REPEATED")
    assert {f["name"]: f["type"] for f in fields["parts"]["fields"]} == {"sku": "STRING", "qty": "INT64"}
    assert ('review: pagination: {"type": "page_number", "page_param": "page", "total_pages_path": '
            '"meta.total_pages"} (from meta.total_pages in the response; the parameter name page: a guess, '
            'check it)') in out
    assert cli(["validate", "--config-dir", str(env.settings.config_dir),
                "--schema-dir", str(env.settings.schema_dir)]) == 0
    assert load_entity("acme/widgets", env.settings.config_dir, env.settings.schema_dir).merge_keys == ("id",)


def test_scaffold_refuses_to_overwrite_and_names_a_sample_without_records(env, tmp_path, capsys):
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"data": WIDGETS}))
    assert cli(["scaffold", "acme/widgets", str(sample)]) == 0
    assert cli(["scaffold", "acme/widgets", str(sample)]) == 2
    assert "already exist(s); --force overwrites" in capsys.readouterr().err
    sample.write_text(json.dumps({"status": "ok", "count": 0}))
    assert cli(["scaffold", "acme/gadgets", str(sample)]) == 2
    err = capsys.readouterr().err
    assert "acme/gadgets: no list of objects found in the sample: pass --records-path" in err
    assert not (env.settings.config_dir / "acme/gadgets.json").exists()


def test_an_unseen_api_goes_from_scaffold_to_rows_in_bigquery(env, serve, capsys):
    """The README's "Adding an entity": scaffold from the live URL, validate, run."""
    url = serve(WidgetApi(), "WIDGET_API_URL")
    source = f"shop{env.suffix}"

    assert cli(["scaffold", f"{source}/widgets", f"{url}/v2/widgets"]) == 0
    assert cli(["validate", "--config-dir", str(env.settings.config_dir),
                "--schema-dir", str(env.settings.schema_dir)]) == 0
    capsys.readouterr()
    assert cli(["run", f"{source}/widgets"]) == 0

    captured = capsys.readouterr()
    rows = table_rows(env, source, "widgets")
    assert [r["id"] for r in rows] == [w["id"] for w in WIDGETS]
    assert rows[0]["unit_price"] == 2.5 and rows[0]["maker"] == {"name": "Acme", "country": "FR"}
    assert rows[2]["parts"] == [{"sku": "P3", "qty": 3}] and rows[2]["tags"] == ["a", "t3"]
    assert f"{source}/widgets: succeeded: 2 pages, 7 records" in captured.out
    assert "records/s" in captured.err and "window " in captured.err  # the progress display


def test_run_twice_adds_nothing_and_a_failing_run_names_the_entity_and_cause(env, demo_api, capsys):
    dataset = env.copy_demo_configs()
    assert cli(["run", "demo_shop/customers"]) == 0
    assert cli(["run", "demo_shop/customers"]) == 0
    assert len(table_rows(env, dataset, "customers", order="customer_id")) == len(demo_api.data["customers"])

    env.edit_config("demo_shop/customers", lambda spec: spec.update(request={"path": "/v1/nowhere"}))
    capsys.readouterr()
    assert cli(["run", "demo_shop/customers"]) == 1
    err = capsys.readouterr().err
    assert "ERROR demo_shop/customers: sync failed:" in err and "404" in err


def test_publish_sends_the_validated_message_and_prints_the_gcloud_equivalent(stack, env, capsys):
    env.copy_demo_configs()

    assert cli(["publish", "demo_shop/orders", "--mode", "incremental_window", "--start", "2026-03-01",
                "--end", "2026-03-31", "--parallel", "4", "--topic", env.settings.trigger_topic]) == 0

    expected = {"entity": "demo_shop/orders", "sync_mode": "incremental_window",
                "start_date": "2026-03-01", "end_date": "2026-03-31", "parallel": 4}
    assert [payload for _, payload in published(stack, env)] == [expected]
    out = capsys.readouterr().out
    command = shlex.split(out.splitlines()[0].removeprefix("equivalent: "))
    assert command[:5] == ["gcloud", "pubsub", "topics", "publish", env.settings.trigger_topic]
    assert json.loads(command[command.index("--message") + 1]) == expected
    assert command[command.index("--project") + 1] == env.settings.project


@pytest.mark.parametrize(("args", "error"), [
    (["demo_shop/nope"], "demo_shop/nope: unknown entity 'demo_shop/nope': there is no config/"),
    (["demo_shop/orders", "--mode", "incremental_window", "--start", "2026-03-09", "--end", "2026-03-01"],
     "demo_shop/orders: start_date 2026-03-09 is not before end_date 2026-03-01"),
    (["demo_shop/orders", "--start", "2026-03-01"],
     "demo_shop/orders: start_date/end_date apply to incremental_window and replay"),
])
def test_publish_refuses_a_bad_message_and_sends_nothing(stack, env, capsys, args, error):
    env.copy_demo_configs()

    assert cli(["publish", *args, "--topic", env.settings.trigger_topic]) == 2

    assert error in capsys.readouterr().err
    assert published(stack, env) == []


def test_run_local_starts_the_stack_stores_the_local_secrets_and_syncs(tmp_path, serve):
    """README "Adding an entity" step 3, in a subprocess as a user runs it: its own local stack
    (under a temporary folder), credentials from the git-ignored secrets file."""
    import os
    import subprocess
    import sys

    from ingestion.contract.settings import ROOT
    from tests.support.apis import fake_credential

    key = fake_credential("widgets")
    url = serve(KeyedApi(WidgetApi(), key), "WIDGET_API_URL")
    configs, schemas = tmp_path / "config", tmp_path / "schema"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "BIGQUERY_", "SECRET_",
                                                                    "PUBSUB_", "INGEST_", "GOOGLE_"))}
    env.update(INGEST_CONFIG_DIR=str(configs), INGEST_SCHEMA_DIR=str(schemas),
               INGEST_DEMO_DIR=str(tmp_path / "stack"), INGEST_LOCAL_SECRETS=str(tmp_path / "secrets.json"))
    (tmp_path / "secrets.json").write_text(json.dumps({"acme-api": {"api_key": key}}))

    def cli_process(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ingestion", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)

    scaffold = cli_process("scaffold", "acme/widgets", f"{url}/v2/widgets", "--header", f"X-Key: {key}")
    assert scaffold.returncode == 0, scaffold.stderr
    assert key not in (configs / "acme/_source.json").read_text()
    run = cli_process("run", "acme/widgets", "--local")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "acme/widgets: succeeded: 2 pages, 7 records, 0 rejected, 7 rows merged" in run.stdout
    [raw] = (tmp_path / "stack/gcs/local-ingest/raw/acme/widgets").rglob("pages-*.json")  # one write
    stored = file_pages(raw)
    assert len(stored) == 2 and b'"widget 7"' in stored[1]
    assert key not in raw.read_text()


class KeyedApi:
    """`app`, answering 401 unless the X-Key header holds `key`."""

    def __init__(self, app, key: str):
        self.app, self.key = app, key

    def __call__(self, environ, start_response):
        if Request(environ).headers.get("X-Key") != self.key:
            return Response("unauthorized", status=401)(environ, start_response)
        return self.app(environ, start_response)


def test_run_continues_a_long_job_in_process_with_fresh_runs_and_publishes_nothing(
        stack, env, demo_api, capsys):
    """Out of time budget after every window: the command continues the job itself, run after
    run (each with its own lease), instead of handing it to the function through the topic."""
    from dataclasses import replace

    from ingestion.ops.cli import run_message

    dataset = env.copy_demo_configs()
    settings = replace(env.settings, time_budget_seconds=0, trigger_topic="")

    assert run_message({"entity": "demo_shop/orders"}, settings) == 0

    out = capsys.readouterr().out
    runs = int(out.split(" run(s)")[0].rsplit(" ", 1)[1])
    assert runs > 3  # one window per run: the demo's months since start_date
    assert len(table_rows(env, dataset, "orders")) == len(demo_api.data["orders"])
    ledger = bq_helper.query(f"SELECT status, COUNT(*) AS n FROM `{env.settings.project}."
                             f"{env.settings.meta_dataset}.runs` GROUP BY status").result()
    assert {r.status: r.n for r in ledger} == {"continued": runs - 1, "succeeded": 1}
    assert published(stack, env) == []


def test_publish_local_and_gaps_local_have_the_function_process_everything_and_report_the_runs(
        tmp_path, catalog):
    """`publish --local` as a user runs it: its own local stack, the function behind a push
    subscription; a parallel backfill's parts are processed before it reports. Then `gaps --local`
    finds the hole before that backfill and backfills it through the function: an API that refuses
    it makes the command fail, naming the cause in one line."""
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime

    from ingestion.contract.config import deep_merge
    from ingestion.contract.settings import ROOT
    from tests.support.apis.catalog import CONFIG, SCHEMA, START

    configs, schemas = tmp_path / "config/shop", tmp_path / "schema/shop"
    configs.mkdir(parents=True)
    schemas.mkdir(parents=True)
    (configs / "items.json").write_text(json.dumps(deep_merge(CONFIG, {"target": {"dataset": "shop"}})))
    (schemas / "items.json").write_text(json.dumps(SCHEMA))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "BIGQUERY_", "SECRET_",
                                                                    "PUBSUB_", "INGEST_", "GOOGLE_"))}
    env.update(INGEST_CONFIG_DIR=str(tmp_path / "config"), INGEST_SCHEMA_DIR=str(tmp_path / "schema"),
               INGEST_DEMO_DIR=str(tmp_path / "stack"), INGEST_LOCAL_SECRETS=str(tmp_path / "none.json"))

    def cli_process(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ingestion", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)

    publish = cli_process("publish", "shop/items", "--mode", "incremental_window", "--start",
                          "2026-03-04", "--end", "2026-03-09", "--parallel", "2", "--local")

    assert publish.returncode == 0, publish.stdout + publish.stderr
    runs = re.findall(r"shop/items\s+(\w+)\s+pages=\d+ records=(\d+)", publish.stdout)
    assert sorted(status for status, _ in runs) == ["continued", "succeeded", "succeeded"]
    in_window = [i for i in catalog.truth().values()
                 if datetime(2026, 3, 4, tzinfo=UTC) <= i["updated_at"] < datetime(2026, 3, 10, tzinfo=UTC)]
    assert sum(int(records) for _, records in runs) == len(in_window)

    catalog.refuse_from = START
    backfill = cli_process("gaps", "--local", "--publish")

    assert backfill.returncode == 1, backfill.stdout + backfill.stderr
    assert "1 gap(s)" in backfill.stdout  # the hole exactly: never before start_date
    assert "shop/items: 2026-03-01T00:00:00Z → 2026-03-04T00:00:00Z" in backfill.stdout
    assert re.search(r"shop/items\s+failed\s+.*error=.*HTTP 400", backfill.stdout)
    [error] = [line for line in backfill.stderr.splitlines() if line.startswith("ERROR")]
    assert error.startswith("ERROR gaps: 1 message(s) failed, the first with:") and "400" in error
    assert "Traceback" not in backfill.stderr
