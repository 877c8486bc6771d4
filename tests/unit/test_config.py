"""The config contract: good configs load, bad ones fail naming the file and the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ingestion.contract.config import config_files, load_entity, validate_all
from ingestion.contract.errors import ConfigError, PayloadError
from ingestion.contract.settings import ROOT
from ingestion.ops.cli import main as cli
from tests.support.configs import ENTITY, SCHEMA

SOURCE = {"base_url": "https://api.example.com/v1", "start_date": "2024-01-01",
          "auth": {"type": "bearer", "secret": "acme-token"}, "target": {"dataset": "acme"}}


def write(tmp: Path, entity=ENTITY, schema=SCHEMA, source=SOURCE, name="acme/items") -> tuple[Path, Path]:
    src, ent = name.split("/")
    for folder, doc in (("config", entity), ("schema", schema)):
        (tmp / folder / src).mkdir(parents=True, exist_ok=True)
        text = doc if isinstance(doc, str) else json.dumps(doc)
        (tmp / folder / src / f"{ent}.json").write_text(text)
    if source is not None:
        (tmp / "config" / src / "_source.json").write_text(json.dumps(source))
    return tmp / "config", tmp / "schema"


def load(tmp: Path, **kwargs):
    config_dir, schema_dir = write(tmp, **kwargs)
    return load_entity(kwargs.get("name", "acme/items"), config_dir, schema_dir)


def changed(doc: dict, path: str, value) -> dict:
    """A deep copy of `doc` with `path` (dotted) set to `value`, or removed when value is ...."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    if value is ...:
        node.pop(last)
    else:
        node[last] = value
    return doc


def test_source_defaults_merge_into_the_entity(tmp_path):
    entity = load(tmp_path)
    assert entity.base_url == "https://api.example.com/v1"
    assert entity.auth.type == "bearer"
    assert entity.auth.options == {"secret": "acme-token", "token_key": "token"}  # default key
    assert (entity.target.dataset, entity.target.table, entity.target.partition.field,
            entity.target.partition.granularity, entity.target.cluster_by) == (
        "acme", "items", "created_on", "DAY", ("name",))  # DAY: the schema's default
    assert [c["name"] for c in entity.table_fields][-3:] == ["_run_id", "_extracted_at", "_source_object"]


def test_entity_overrides_source_key_by_key(tmp_path):
    entity = load(tmp_path, entity=changed(ENTITY, "target.dataset", "other"))
    assert entity.target.dataset == "other" and entity.target.table == "items"


def test_shipped_configs_are_valid():
    assert validate_all(ROOT / "config", ROOT / "schema") == {}
    assert len(config_files(ROOT / "config")) >= 2


@pytest.mark.parametrize("entity, schema, source, expected", [
    (changed(ENTITY, "merge_keys", ...), SCHEMA, SOURCE,
     "acme/items.json: (top level): 'merge_keys' is a required property"),
    (changed(ENTITY, "pagination.type", "scroll"), SCHEMA, SOURCE,
     "pagination.type: 'scroll' is not one of ['single', 'page_number', 'offset'"),
    (changed(ENTITY, "pagination.page_size", 0), SCHEMA, SOURCE,
     "pagination.page_size: 0 is less than the minimum of 1"),
    (changed(ENTITY, "pagination.pageSize", 10), SCHEMA, SOURCE,
     "pagination: Additional properties are not allowed ('pageSize' was unexpected)"),
    (changed(ENTITY, "date_filter.format", "strftime"), SCHEMA, SOURCE,
     "date_filter: 'strftime' is a required property"),
    (changed(ENTITY, "target.table", "my-items"), SCHEMA, SOURCE,
     "target.table: 'my-items' does not match"),
    (ENTITY, SCHEMA, changed(SOURCE, "base_url", ...),
     "(merged with _source.json): (top level): 'base_url' is a required property"),
    (ENTITY, SCHEMA, changed(SOURCE, "auth.secret", ...), "auth: 'secret' is a required property"),
    (ENTITY, SCHEMA, changed(SOURCE, "retries", 3), "_source.json: (top level): Additional properties"),
    (ENTITY, SCHEMA, changed(SOURCE, "start_date", "2024-02-30"),
     "start_date: not an ISO date or datetime: '2024-02-30'"),
    (changed(ENTITY, "merge_keys", ["sku"]), SCHEMA, SOURCE,
     "merge key 'sku' is not a column of the schema"),
    (changed(ENTITY, "merge_keys", ["tags"]), SCHEMA, SOURCE,
     "merge key 'tags' must be a scalar column, not STRING REPEATED"),
    (changed(ENTITY, "cursor_field", "name"), SCHEMA, SOURCE,
     "cursor_field 'name' has type STRING; expected one of DATE, DATETIME, TIMESTAMP"),
    (changed(ENTITY, "target.partition.field", "owner"), SCHEMA, SOURCE,
     "partition field 'owner' must be a scalar column, not RECORD"),
    (changed(ENTITY, "target.cluster_by", ["nope"]), SCHEMA, SOURCE,
     "cluster_by column 'nope' is not a column of the schema"),
    (ENTITY, [*SCHEMA, {"name": "ID", "type": "STRING"}], SOURCE,
     "duplicate column names (BigQuery is case-insensitive): id"),
    (ENTITY, [*SCHEMA, {"name": "_run_id", "type": "STRING"}], SOURCE,
     "reserved column names in the schema: _run_id"),
    ({**ENTITY, "request": {"path": "/tenants/{item}/items"}}, SCHEMA, SOURCE,
     "{item} is used, but the entity has no fan_out"),
    ({**ENTITY, "fan_out": {"items": ["a"], "column": "tenant"}}, SCHEMA, SOURCE,
     "fan_out.column 'tenant' is not a column of the schema"),
    ({**ENTITY, "fan_out": {"items": ["a"], "from_entity": {"entity": "acme/x", "column": "id"},
                            "column": "name"}}, SCHEMA, SOURCE, "fan_out: {'items': ['a']"),
    ({**ENTITY, "records": {"path": "data", "fields": {"nope": "owner.name"}}}, SCHEMA, SOURCE,
     "records.fields: 'nope' is not a column of the schema"),
    ({**ENTITY, "records": {"path": "data", "format": "jsonl"}}, SCHEMA, SOURCE,
     "records.path must be empty for format jsonl"),
    ({**ENTITY, "date_filter": {"format": "iso_date"}}, SCHEMA, SOURCE,
     "date_filter has no start_param/end_param and no request uses {start}"),
    ({**ENTITY, "request": {"path": "/items/{job_id}"}}, SCHEMA, SOURCE,
     "{job_id} is used, but the entity has no async_job"),
    ({**ENTITY, "pagination": {"type": "offset", "offset_param": "o", "limit_param": "l"}}, SCHEMA, SOURCE,
     "pagination: 'page_size' is a required property"),
    ({**ENTITY, "date_filter": {"start_param": "since", "align": True}}, SCHEMA, SOURCE,
     "date_filter: 'step' is a dependency of 'align'"),
    (ENTITY, [{"name": "id", "type": "INTEGR"}], SOURCE, "[0].type: 'INTEGR' is not one of"),
    (ENTITY, [{"name": "bad name", "type": "STRING"}], SOURCE, "[0].name: 'bad name' does not match"),
    (ENTITY, [{"name": "owner", "type": "RECORD"}], SOURCE, "[0]: 'fields' is a required property"),
    ('{"request": ', SCHEMA, SOURCE, "acme/items.json: not valid JSON"),
])
def test_bad_configs_name_the_file_and_the_field(tmp_path, entity, schema, source, expected):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, entity=entity, schema=schema, source=source)
    assert expected in str(error.value)


def test_missing_schema_file_is_reported(tmp_path):
    config_dir, schema_dir = write(tmp_path)
    (schema_dir / "acme/items.json").unlink()
    with pytest.raises(ConfigError, match=r"schema/acme/items.json: file not found"):
        load_entity("acme/items", config_dir, schema_dir)


def test_unknown_entity_is_a_payload_error_never_a_path(tmp_path):
    config_dir, schema_dir = write(tmp_path)
    for name in ("acme/nope", "acme/../acme/items", "/etc/passwd"):
        with pytest.raises(PayloadError, match="unknown entity"):
            load_entity(name, config_dir, schema_dir)


def test_base_url_reads_environment_variables(tmp_path, monkeypatch):
    source = changed(SOURCE, "base_url", "${ACME_URL:-https://fallback.example.com}/v2")
    assert load(tmp_path, source=source).base_url == "https://fallback.example.com/v2"
    monkeypatch.setenv("ACME_URL", "http://127.0.0.1:9999")
    assert load(tmp_path, source=source).base_url == "http://127.0.0.1:9999/v2"
    with pytest.raises(ConfigError, match=r"base_url uses \$\{UNSET_URL\}, which is not set"):
        load(tmp_path, source=changed(SOURCE, "base_url", "${UNSET_URL}"))


def test_validate_command_exits_non_zero_naming_each_bad_file(tmp_path, capsys):
    config_dir, schema_dir = write(tmp_path)
    write(tmp_path, entity=changed(ENTITY, "merge_keys", ["sku"]), name="acme/broken")
    (schema_dir / "acme/orphan.json").write_text(json.dumps(SCHEMA))

    assert cli(["validate", "--config-dir", str(config_dir), "--schema-dir", str(schema_dir)]) == 1

    out = capsys.readouterr()
    assert "config/acme/broken.json" in out.err and "merge key 'sku'" in out.err
    assert "schema/acme/orphan.json: no config/acme/orphan.json uses this schema" in out.err
    assert "config/acme/items.json" not in out.err
    assert "2 entity config(s) checked, 2 problem(s)" in out.out


def test_validate_command_passes_on_the_repository(capsys):
    assert cli(["validate"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_the_request_path_reads_environment_variables(tmp_path, monkeypatch):
    """A per-deployment id inside the path (GA4's properties/<id>:runReport)."""
    entity = changed(ENTITY, "request.path", "/v1beta/properties/${GA4_PROPERTY_ID}:runReport")
    monkeypatch.setenv("GA4_PROPERTY_ID", "312345678")
    assert load(tmp_path, entity=entity).request.path == "/v1beta/properties/312345678:runReport"
    monkeypatch.delenv("GA4_PROPERTY_ID")
    with pytest.raises(ConfigError, match=r"request.path uses \$\{GA4_PROPERTY_ID\}, which is not set"):
        load(tmp_path, entity=entity)
