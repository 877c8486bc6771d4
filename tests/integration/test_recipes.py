"""Every command recipe of the docs, executed as written against the local stack: the README's
five-minute tour (scaffold → validate → run --local, in subprocesses as a user runs them) and the
backfill recipes of docs/operations.md (through the function, continuations and parallel parts
included). A recipe that stops working fails here, not in a user's hands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from werkzeug.wrappers import Request, Response

from ingestion.contract.settings import ROOT
from ingestion.ops import cli
from ingestion.warehouse.ledger import runs_table_id
from tests.support.apis import fake_credential
from tests.support.apis.metrc import USER_KEY, VENDOR_KEY, MetrcApi
from tests.support.delivery import drain_through_function, published, store_secret
from tests.support.rawpages import file_pages
from tests.support.tables import table
from utils import bq_helper

TOUR_API = "https://api.acme.com/v2/widgets"


def section(path, heading: str) -> str:
    """The text under `heading` (a `## ` or `### ` line) up to the next heading of any level."""
    text = (ROOT / path).read_text()
    return text.split(f"{heading}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def recipe_lines(text: str) -> list[tuple[str, str]]:
    """(the comment above, the command) of every command in the ```bash blocks of `text`."""
    found, comment = [], ""
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in map(str.strip, block.splitlines()):
            if line.startswith("#"):
                comment = line.lstrip("# ")
            elif line:
                found.append((comment, line.split("  #")[0].strip()))
    return found


class WidgetApi:
    """Two pages of widgets linked by `links.next`, for a bearer token only."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response("unauthorized", status=401)(environ, start_response)
        page = int(request.args.get("page", 1))
        rows = [{"id": n, "name": f"widget {n}", "updated_at": f"2026-11-{10 + n:02d}T08:00:00Z"}
                for n in (range(1, 5) if page == 1 else range(5, 8))]
        follow = f"{request.host_url.rstrip('/')}/v2/widgets?page=2" if page == 1 else None
        body = {"data": rows, "links": {"next": follow}}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


def test_the_readme_tour_adds_an_entity_as_written(tmp_path, serve):
    token = fake_credential("widgets")
    url = serve(WidgetApi(token), "WIDGET_API_URL")
    tour = section("README.md", "## Five-minute tour: add an entity")
    [secrets_example] = re.findall(r"`(\{\"acme-api\": \{.*?\}\})`", tour)
    (tmp_path / "secrets.json").write_text(secrets_example.replace('"..."', json.dumps(token)))
    (tmp_path / "sample.json").write_text(json.dumps({"data": [{"id": 1, "name": "w"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(
        ("STORAGE_", "BIGQUERY_", "SECRET_", "PUBSUB_", "INGEST_", "GOOGLE_"))}
    env.update(INGEST_CONFIG_DIR=str(tmp_path / "config"), INGEST_SCHEMA_DIR=str(tmp_path / "schema"),
               INGEST_DEMO_DIR=str(tmp_path / "stack"), INGEST_LOCAL_SECRETS=str(tmp_path / "secrets.json"),
               TOKEN=token, PYTHONPATH=str(ROOT))
    commands = [c for _, c in recipe_lines(tour)] + re.findall(r"`(python -m ingestion [^`]+)`", tour)
    assert [c.split()[3] for c in commands] == ["scaffold", "scaffold", "run", "validate"]

    def execute(command: str, **extra: str) -> subprocess.CompletedProcess:
        command = command.replace(TOUR_API, f"{url}/v2/widgets").replace("$TOKEN", token)
        args = [sys.executable, *shlex.split(command)[1:]]
        done = subprocess.run(args, cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        return done

    from_url, from_file, run, validate = commands
    execute(from_file, INGEST_CONFIG_DIR=str(tmp_path / "other/config"),  # the alternative
            INGEST_SCHEMA_DIR=str(tmp_path / "other/schema"))
    scaffolded = execute(from_url)
    assert token not in (tmp_path / "config/acme/_source.json").read_text()
    assert '"acme-api": {"token": "..."}' in scaffolded.stdout  # what the README tells to store
    execute(validate)
    synced = execute(run)

    assert "acme/widgets: succeeded: 2 pages, 7 records, 0 rejected, 7 rows merged" in synced.stdout
    [raw] = (tmp_path / "stack/gcs/local-ingest/raw/acme/widgets").rglob("pages-*.json")  # one write
    stored = file_pages(raw)
    assert len(stored) == 2 and b'"widget 7"' in stored[1] and token not in raw.read_text()


def test_the_backfill_recipes_run_as_written(env, demo_api, serve, stack, function_client, capsys):
    demo = env.copy_demo_configs()
    metrc = MetrcApi()
    serve(metrc, "METRC_API_URL")
    store_secret(env.settings.project, "metrc-api", {"vendor_key": VENDOR_KEY, "user_key": USER_KEY})
    metrc_dataset = env.copy_configs("metrc")
    recipes = recipe_lines(section("docs/operations.md", "### Backfill recipes"))
    assert len(recipes) >= 6
    outcomes, orders_before_replay = {}, None

    for number, (what, command) in enumerate(recipes, 1):
        published_before = len(published(stack, env))
        if "replay" in command:
            orders_before_replay = table(env, demo, "orders", "id")
        if command.startswith("gcloud pubsub topics publish ingest-trigger --message="):
            message = json.loads(re.search(r"--message='(.*)'$", command)[1])
            codes = drain_through_function(function_client, stack, env, message, f"recipe-{number}")
        else:
            assert command.startswith("python -m ingestion "), command
            assert cli.main(shlex.split(command)[3:]) == 0, capsys.readouterr().err
            codes = drain_through_function(function_client, stack, env, None)
        outcomes[what] = (codes, published(stack, env)[published_before:])
        assert codes and set(codes) == {200}, f"{what}: {command}"

    ledger = [dict(r.items())
              for r in bq_helper.query(f"SELECT * FROM `{runs_table_id(env.settings)}`").result()]
    assert [(r["entity"], r["error_message"]) for r in ledger if r["status"] == "failed"] == []
    orders_truth = {o["id"]: o for o in demo_api.data["orders"]}
    orders = table(env, demo, "orders", "id")
    assert set(orders) == set(orders_truth)  # month, the holes, then the whole year
    assert {k: (r["status"], r["updated_at"]) for k, r in orders.items()} == \
        {k: (r["status"], r["updated_at"]) for k, r in orders_before_replay.items()}  # replay: same
    [(_, gap)] = outcomes["Only the holes between what is loaded (here: January, before the month above)"][1]
    assert (gap["start_date"], gap["end_date"]) == ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    parts = outcomes["A year, on 12 function instances at once"][1]
    assert len({p["chunk"] for _, p in parts if "chunk" in p}) == 12
    assert set(table(env, demo, "customers", "customer_id")) == \
        {c["customer_id"] for c in demo_api.data["customers"]}
    packages = bq_helper.query(f"SELECT LicenseNumber, Id FROM `{env.settings.project}.{metrc_dataset}"
                               ".packages`").result()
    assert sorted((r.LicenseNumber, r.Id) for r in packages) == sorted(
        key for key in metrc.truth() if key[0] == "LIC-001")  # that tenant only
