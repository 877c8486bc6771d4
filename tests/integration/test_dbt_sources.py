"""`python -m ingestion manifest dbt`: the dbt sources file a team that transforms with dbt drops into
its project. Parsed by dbt-core itself (`dbt parse` in a throwaway project, offline: the duckdb
adapter needs no warehouse to parse), and judged by dbt's own manifest: every table with its
descriptions exactly as written, freshness from the entity's objective, the key tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from ingestion.contract.config import METADATA_COLUMNS, SOFT_DELETE_COLUMNS
from ingestion.contract.settings import ROOT
from ingestion.ops.dbt_sources import freshness, to_yaml
from ingestion.ops.manifest import load_all

DBT = Path(sys.executable).parent / "dbt"
PROJECT = "ingest_sources"
TRICKY = ('Price: "gross", incl. VAT #1\nsecond line\twith a tab; {{ not_jinja }} and {% neither %} '
          "{# nor this #}, 'quoted', — ü ✓ 😀\u2028end")


def dbt_parse(tmp: Path, sources_yml: str) -> dict:
    """A throwaway dbt project with `sources_yml` as models/staging/sources.yml; dbt's manifest."""
    (tmp / "models" / "staging").mkdir(parents=True)
    (tmp / "models" / "staging" / "sources.yml").write_text(sources_yml)
    (tmp / "dbt_project.yml").write_text(f"name: {PROJECT}\nversion: '1.0'\nprofile: {PROJECT}\n"
                                         "config-version: 2\n")
    (tmp / "profiles.yml").write_text(f"{PROJECT}:\n  target: dev\n  outputs:\n    dev:\n"
                                      "      type: duckdb\n      path: ':memory:'\n")
    env = {**os.environ, "DO_NOT_TRACK": "1", "RAW_PROJECT": "raw-project"}
    result = subprocess.run([str(DBT), "--warn-error", "--no-send-anonymous-usage-stats", "parse",
                             "--project-dir", str(tmp), "--profiles-dir", str(tmp)],
                            cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp / "target" / "manifest.json").read_text())


def manifest_dbt(*args: str, config_dir: Path | None = None, schema_dir: Path | None = None
                 ) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if config_dir:
        env.update(INGEST_CONFIG_DIR=str(config_dir), INGEST_SCHEMA_DIR=str(schema_dir))
    return subprocess.run([sys.executable, "-m", "ingestion", "manifest", "dbt", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def source(manifest: dict, dataset: str, table: str) -> dict:
    return manifest["sources"][f"source.{PROJECT}.{dataset}.{table}"]


def built_tests(manifest: dict, dataset: str, table: str) -> set[tuple[str, str, str | None]]:
    """(test, column or expression, where) of every test dbt built on one source table."""
    found = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node["sources"] == [[dataset, table]]:
            kwargs = node["test_metadata"]["kwargs"]
            found.add((node["test_metadata"]["name"], kwargs["column_name"], node["config"]["where"]))
    return found


def warn_error(objective: dict) -> tuple[tuple[int, str], tuple[int, str]]:
    return ((objective["warn_after"]["count"], objective["warn_after"]["period"]),
            (objective["error_after"]["count"], objective["error_after"]["period"]))


# --- a small config set: every kind of table, descriptions that break naive YAML ----------------

def write_entity(config_dir: Path, schema_dir: Path, name: str, config: dict, schema: list[dict],
                 children: dict[str, list[dict]] | None = None) -> None:
    src, entity = name.split("/")
    (config_dir / src).mkdir(parents=True, exist_ok=True)
    (schema_dir / src).mkdir(parents=True, exist_ok=True)
    base = {"base_url": "https://api.example.com", "start_date": "2026-01-01", "request": {"path": "/x"},
            "records": {"path": "data"}, "pagination": {"type": "single"}}
    (config_dir / src / f"{entity}.json").write_text(json.dumps({**base, **config}))
    (schema_dir / src / f"{entity}.json").write_text(json.dumps(schema))
    for child, fields in (children or {}).items():
        (schema_dir / src / f"{entity}.{child}.json").write_text(json.dumps(fields))


@pytest.fixture
def config_set(tmp_path: Path) -> tuple[Path, Path]:
    config_dir, schema_dir = tmp_path / "config", tmp_path / "schema"
    write_entity(config_dir, schema_dir, "acme/items", {
        "description": TRICKY, "merge_keys": ["id"], "freshness": "PT90M",
        "full_refresh": {"absent_rows": "soft_delete"}, "target": {"dataset": "acme", "table": "items"},
    }, [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED", "description": "yes"},
        {"name": "price", "type": "NUMERIC", "description": TRICKY},
        {"name": "dims", "type": "RECORD", "description": "- a list? no: a record", "fields": [
            {"name": "w", "type": "FLOAT", "description": "null"},
            {"name": "tags", "type": "STRING", "mode": "REPEATED"}]},
    ])
    write_entity(config_dir, schema_dir, "acme/item_versions", {
        "merge_keys": ["id", "region"], "schedule": {"cron": "0 6 * * *"},  # daily: objective 2 days
        "target": {"dataset": "acme", "table": "item_versions", "write": "history"},
    }, [{"name": "id", "type": "INT64"}, {"name": "region", "type": "STRING"}])
    write_entity(config_dir, schema_dir, "shop/orders", {
        "merge_keys": ["id"], "target": {"dataset": "shop_raw", "table": "orders"},
        "children": [{"name": "lines", "path": "lines", "table": "order_lines", "keys": ["sku"]},
                     {"name": "tags", "path": "tags", "table": "order_tags"}],
    }, [{"name": "id", "type": "STRING"}], children={
        "lines": [{"name": "sku", "type": "STRING", "description": "Stock: keeping unit"}],
        "tags": [{"name": "value", "type": "STRING"}],
    })
    return config_dir, schema_dir


def test_dbt_parses_the_sources_of_a_config_set_with_every_description_as_written(config_set, tmp_path):
    result = manifest_dbt("--project", "{{ env_var('RAW_PROJECT') }}", config_dir=config_set[0],
                          schema_dir=config_set[1])
    assert result.returncode == 0, result.stderr

    manifest = dbt_parse(tmp_path / "dbt", result.stdout)

    assert sorted(manifest["sources"]) == [f"source.{PROJECT}.{t}" for t in (
        "acme.item_versions", "acme.items", "shop_raw.order_lines", "shop_raw.order_tags", "shop_raw.orders")]
    items = source(manifest, "acme", "items")
    assert items["database"] == "raw-project"  # the project, from the dbt user's environment
    assert items["schema"] == "acme"
    assert items["loaded_at_field"] == "_extracted_at"
    assert items["description"] == TRICKY
    columns = {name: (c["description"], c["data_type"]) for name, c in items["columns"].items()}
    assert columns["id"] == ("yes", "INT64")
    assert columns["price"] == (TRICKY, "NUMERIC")
    assert columns["dims"] == ("- a list? no: a record", "STRUCT<w FLOAT64, tags ARRAY<STRING>>")
    assert columns["dims.w"] == ("null", "FLOAT64")
    for loader in [*METADATA_COLUMNS, *SOFT_DELETE_COLUMNS]:
        assert columns[loader["name"]] == (loader["description"], loader["type"])

    # freshness: warn at the objective, error at twice it; none without an objective
    assert warn_error(items["freshness"]) == ((90, "minute"), (180, "minute"))
    assert warn_error(source(manifest, "acme", "item_versions")["freshness"]) == ((2, "day"), (4, "day"))
    assert source(manifest, "shop_raw", "orders")["freshness"]["warn_after"]["count"] is None

    # tests: keys never NULL; unique on the table's key (a history table: per version, one current)
    assert built_tests(manifest, "acme", "items") == {("not_null", "id", None), ("unique", "id", None)}
    assert built_tests(manifest, "acme", "item_versions") == {
        ("not_null", "id", None), ("not_null", "region", None),
        ("unique", "to_json_string(struct(`id`, `region`, `_valid_from`))", None),
        ("unique", "to_json_string(struct(`id`, `region`))", "_is_current")}
    lines = source(manifest, "shop_raw", "order_lines")
    assert lines["description"] == "lines of shop/orders, ingested by config/shop/orders.json"
    assert lines["columns"]["sku"]["description"] == "Stock: keeping unit"
    assert lines["columns"]["_parent_id"]["description"] == "id of the parent row in orders."
    assert built_tests(manifest, "shop_raw", "order_lines") == {
        ("not_null", "_parent_id", None), ("not_null", "sku", None),
        ("unique", "to_json_string(struct(`_parent_id`, `sku`))", None)}
    assert ("unique", "to_json_string(struct(`_parent_id`, `_position`))", None) in built_tests(
        manifest, "shop_raw", "order_tags")


def test_dbt_parses_the_sources_of_the_shipped_configs(tmp_path):
    result = manifest_dbt()
    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in yaml.safe_load(result.stdout)["sources"] if "database" in s] == []

    manifest = dbt_parse(tmp_path, result.stdout)

    entities = load_all(ROOT / "config", ROOT / "schema")
    expected = {}
    for entity in entities:
        expected[(entity.target.dataset, entity.target.table)] = (entity, entity.fields)
        for child in entity.children:
            expected[(entity.target.dataset, child.table)] = (entity, entity.child_fields[child.name])
    assert sorted(manifest["sources"]) == sorted(f"source.{PROJECT}.{d}.{t}" for d, t in expected)
    for (dataset, table), (entity, fields) in expected.items():
        parsed = source(manifest, dataset, table)
        assert entity.table_description in parsed["description"]
        described = {f["name"]: f["description"] for f in fields if f.get("description")}
        assert {n: parsed["columns"][n]["description"] for n in described} == described
        assert parsed["columns"]["_extracted_at"]["description"]
        objective = entity.freshness_objective
        if objective is None:
            assert parsed["freshness"]["warn_after"]["count"] is None
        else:
            (warn, unit), (error, _) = warn_error(parsed["freshness"])
            seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit]
            assert (timedelta(seconds=warn * seconds), error) == (objective, 2 * warn)
        if table == entity.target.table:
            keys = {("not_null", key, None) for key in entity.merge_keys}
            assert keys <= built_tests(manifest, dataset, table)


def test_two_entities_loading_one_table_are_refused(config_set):
    config_dir, schema_dir = config_set
    spec = json.loads((config_dir / "acme" / "item_versions.json").read_text())
    spec["target"] = {"dataset": "acme", "table": "ITEMS"}
    (config_dir / "acme" / "item_versions.json").write_text(json.dumps(spec))

    result = manifest_dbt(config_dir=config_dir, schema_dir=schema_dir)

    assert result.returncode == 2
    assert result.stderr.lower() == ("error acme/items: table acme.items is also loaded by "
                                     "acme/item_versions\n")


@pytest.mark.parametrize("objective,warn,error", [
    (timedelta(minutes=30), (30, "minute"), (60, "minute")),
    (timedelta(hours=2), (2, "hour"), (4, "hour")),
    (timedelta(hours=36), (36, "hour"), (72, "hour")),
    (timedelta(days=2), (2, "day"), (4, "day")),
    (timedelta(seconds=90), (2, "minute"), (4, "minute")),  # dbt counts whole minutes: rounded up
])
def test_freshness_thresholds_in_the_largest_unit_dbt_accepts(objective, warn, error):
    assert warn_error(freshness(objective)) == (warn, error)


@pytest.mark.parametrize("text", [
    "", "yes", "No", "null", "~", "1.5", "0x1F", "2026-01-01", "- dash", "? question", "a: b", "a #b",
    " padded ", "'single'", '"double"', "back\\slash", "tab\there", "line\nbreak\r\n", "\x00\x07\x1b\x7f",
    "\x85\u2028\u2029\ufeff", "é 中 😀", "{a: b}", "[1, 2]", "&anchor *alias !tag %dir @at `tick`",
])
def test_any_string_round_trips_through_the_yaml(text):
    assert yaml.safe_load(to_yaml({"key": text, "list": [text]})) == {"key": text, "list": [text]}
