"""`${NAME}` in configs at run time, and the operator commands around it: the function expands base
and token URLs, start_date, params and headers, and fails permanently, naming the variable, when one
is unset; `gaps` reads no API value, lists no gap for what was never loaded, and reports every error
in one line; `publish` needs no API value either. (Validation with unset variables:
tests/unit/test_env_validate.py.)"""

from __future__ import annotations

from ingestion.ops.cli import main as cli
from tests.support.apis.catalog import CONFIG, SCHEMA
from tests.support.catalog import ENTITY, deliver, runs, setup
from tests.support.delivery import published
from tests.support.env_vars import unset_all


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
