"""`${NAME}` in configs, and the operator commands around it: a workstation without a deployment's
values still validates (with a warning naming the variable); the function expands base and token
URLs, start_date, params and headers, and fails permanently, naming the variable, when one is
unset; `gaps` reads no API value, lists no gap for what was never loaded, and reports every error in
one line."""

from __future__ import annotations

import json

from ingestion.ops.cli import main as cli
from tests.apis.catalog import CONFIG, SCHEMA
from tests.conftest import published
from tests.test_exactly_once import deliver
from tests.test_loading import ENTITY, runs, setup

# Variables no test environment sets.
UNSET = ("ACME_HOST", "ACME_TENANT", "ACME_START", "CATALOG_TENANT", "CATALOG_REGION", "CATALOG_START",
         "SHOP_START")
SOURCE = {"base_url": "${ACME_HOST}/v1", "start_date": "${ACME_START}", "target": {"dataset": "acme"},
          "request": {"headers": {"X-Tenant": "${ACME_TENANT}"}}}
ITEMS = {"request": {"path": "/items", "params": {"region": "${ACME_REGION:-eu}"}},
         "records": {"path": "data"}, "pagination": {"type": "single"}, "merge_keys": ["id"], "target": {}}
ITEMS_SCHEMA = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}]


def write_acme(tmp_path, entities: dict[str, dict]) -> list[str]:
    """config/acme/ with SOURCE and `entities`; returns the validate command's arguments."""
    for folder in ("config/acme", "schema/acme"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "config/acme/_source.json").write_text(json.dumps(SOURCE))
    for name, spec in entities.items():
        (tmp_path / f"config/acme/{name}.json").write_text(json.dumps(spec))
        (tmp_path / f"schema/acme/{name}.json").write_text(json.dumps(ITEMS_SCHEMA))
    return ["validate", "--config-dir", str(tmp_path / "config"), "--schema-dir", str(tmp_path / "schema")]


def unset_all(monkeypatch) -> None:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


def test_validate_warns_about_each_unset_variable_and_still_checks_the_rest(tmp_path, monkeypatch, capsys):
    unset_all(monkeypatch)
    command = write_acme(tmp_path, {"items": ITEMS})

    assert cli(command) == 0

    out, err = capsys.readouterr()
    source = tmp_path / "config/acme/_source.json"
    assert f"WARNING {source}: ${{ACME_HOST}} is not set (base_url;" in err
    assert f"WARNING {source}: ${{ACME_START}} is not set (start_date;" in err
    assert f"WARNING {source}: ${{ACME_TENANT}} is not set (request.headers.X-Tenant;" in err
    assert "ACME_REGION" not in err  # it has a default
    assert "1 entity config(s) checked, 0 problem(s), 3 warning(s)" in out

    write_acme(tmp_path, {"items": ITEMS, "broken": {**ITEMS, "merge_keys": ["sku"]}})
    assert cli(command) == 1
    assert "config/acme/broken.json" in capsys.readouterr().err  # checked despite the placeholders


def test_expanded_values_are_validated_naming_the_variable_never_a_header_value(tmp_path, monkeypatch,
                                                                               capsys):
    unset_all(monkeypatch)
    monkeypatch.setenv("ACME_HOST", "https://api.acme.example")
    monkeypatch.setenv("ACME_START", "last tuesday")
    monkeypatch.setenv("ACME_TENANT", "tok-3f9a\r\nX-Injected: 1")
    command = write_acme(tmp_path, {"items": ITEMS})

    assert cli(command) == 1

    err = capsys.readouterr().err
    assert "start_date uses ${ACME_START}: 'last tuesday' is not an ISO date or datetime" in err
    assert "request.headers.X-Tenant uses ${ACME_TENANT}: the value holds a line break" in err
    assert "tok-3f9a" not in err


def test_the_function_expands_start_date_params_and_headers_at_run_time(env, catalog, monkeypatch):
    monkeypatch.setenv("CATALOG_START", "2026-03-04")
    monkeypatch.setenv("CATALOG_REGION", "eu-west")
    monkeypatch.setenv("CATALOG_TENANT", "tenant-7")
    setup(env, start_date="${CATALOG_START}",
          request={"params": {"region": "${CATALOG_REGION}"}, "headers": {"X-Tenant": "${CATALOG_TENANT}"}})

    run = deliver(env)

    assert run.status == "succeeded"
    first = catalog.calls("/items")[0]
    assert first.args["since"] == "2026-03-04T00:00:00Z" and first.args["region"] == "eu-west"
    assert {r.headers["X-Tenant"] for r in catalog.requests} == {"tenant-7"}


def test_a_run_with_an_unset_variable_fails_permanently_naming_it(env, catalog, monkeypatch):
    unset_all(monkeypatch)
    setup(env, request={"headers": {"X-Tenant": "${CATALOG_TENANT}"}})

    assert deliver(env) is None  # acknowledged: a redelivery cannot set it

    [run] = runs(env)
    assert run["status"] == "failed" and run["error_class"] == "ConfigError"
    assert "request.headers.X-Tenant uses ${CATALOG_TENANT}, which is not set" in run["error_message"]
    assert catalog.requests == []


def test_gaps_lists_no_gap_for_an_entity_never_loaded_and_publishes_nothing(env, catalog, stack,
                                                                            monkeypatch, capsys):
    setup(env)
    monkeypatch.setattr("ingestion.ops.cli.Settings.from_env", lambda: env.settings)

    assert cli(["gaps", "--publish"]) == 0

    out = capsys.readouterr().out
    assert f"{ENTITY}: never loaded (the next incremental run loads it from 2026-03-01T00:00:00Z)" in out
    assert "0 gap(s)" in out
    assert published(stack, env) == []


def test_gaps_needs_no_api_variable_and_reports_each_unreadable_entity_in_one_line(env, catalog,
                                                                                    monkeypatch, capsys):
    unset_all(monkeypatch)
    monkeypatch.delenv("CATALOG_API_URL")
    monkeypatch.setattr("ingestion.ops.cli.Settings.from_env", lambda: env.settings)
    setup(env, request={"headers": {"X-Tenant": "${CATALOG_TENANT}"}})
    env.write("shop/later", {**CONFIG, "target": {"dataset": f"later_{env.suffix}"},
                             "start_date": "${SHOP_START}"}, SCHEMA)

    assert cli(["gaps"]) == 1

    out, err = capsys.readouterr()
    assert f"{ENTITY}: never loaded" in out and "0 gap(s)" in out
    assert err.splitlines() == [f"ERROR shop/later: {env.settings.config_dir}/shop/later.json: "
                                f"start_date uses ${{SHOP_START}}, which is not set"]

    assert cli(["gaps", "shop/nope", ENTITY]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == ["ERROR shop/nope: unknown entity 'shop/nope': there is no "
                                "config/shop/nope.json"]
    assert f"{ENTITY}: never loaded" in out


def test_publish_needs_no_api_variable_and_a_failure_is_one_error_line(env, stack, monkeypatch, capsys):
    unset_all(monkeypatch)
    setup(env, request={"headers": {"X-Tenant": "${CATALOG_TENANT}"}})

    assert cli(["publish", ENTITY, "--topic", env.settings.trigger_topic]) == 0
    assert [payload for _, payload in published(stack, env)] == [{"entity": ENTITY,
                                                                  "sync_mode": "incremental"}]

    capsys.readouterr()
    assert cli(["publish", ENTITY, "--topic", f"missing-{env.suffix}"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"ERROR {ENTITY}: NotFound: ") and f"missing-{env.suffix}" in line

    monkeypatch.delenv("CATALOG_API_URL", raising=False)
    assert cli(["run", ENTITY]) == 2  # a sync needs every value: refused before any call
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR {ENTITY}: {env.settings.config_dir}/shop/items.json: base_url uses "
        f"${{CATALOG_API_URL}}, which is not set; request.headers.X-Tenant uses ${{CATALOG_TENANT}}, "
        f"which is not set"]

