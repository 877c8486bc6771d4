"""`${NAME}` in configs, validated on a workstation without a deployment's values: an unset variable
is a warning naming it, the rest is still checked; a set value is validated naming the variable,
never showing a header's value. (Expanded at run time: tests/integration/test_env_expansion.py.)"""

from __future__ import annotations

import json

from ingestion.ops.cli import main as cli
from tests.support.env_vars import unset_all

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
