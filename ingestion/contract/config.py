"""Entity configs: discovery, JSON Schema validation, source defaults, cross-check with the BQ schema.

`config/<source>/_source.json` (optional) holds what every entity of a source shares;
`config/<source>/<entity>.json` holds the entity; `schema/<source>/<entity>.json` is its BigQuery
schema in the `bq` CLI format. The JSON Schemas under `ingestion/contract/schemas/` are the contract.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ingestion.contract.dates import parse_duration, parse_instant
from ingestion.contract.envrefs import ALL_FIELDS, expand, has_key
from ingestion.contract.errors import ConfigError, PayloadError
from ingestion.contract.placeholders import placeholders_in
from ingestion.contract.schema import schema_errors

SOURCE_FILE = "_source.json"
TIME_TYPES = {"TIMESTAMP", "DATETIME", "DATE"}
NESTED_TYPES = {"RECORD", "STRUCT"}
# Columns the loader adds to every target table; a schema JSON may not define them itself.
METADATA_COLUMNS = [
    {"name": "_run_id", "type": "STRING", "mode": "NULLABLE",
     "description": "The run that fetched this row version (a replay keeps it)."},
    {"name": "_extracted_at", "type": "TIMESTAMP", "mode": "NULLABLE",
     "description": "When the API page holding this row version was fetched."},
    {"name": "_source_object", "type": "STRING", "mode": "NULLABLE",
     "description": "The raw API page in GCS this row version was read from (gs:// URI)."},
]
RAW_COLUMN = {"name": "_raw", "type": "JSON", "mode": "NULLABLE",
              "description": "The record exactly as the API sent it (target.raw_json)."}
SOFT_DELETE_COLUMNS = [
    {"name": "_deleted", "type": "BOOL", "mode": "NULLABLE",
     "description": "TRUE once a historical_full snapshot no longer had this row (full_refresh)."},
    {"name": "_deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE",
     "description": "When the snapshot that missed this row finished."},
]
RESERVED_COLUMNS = {c["name"] for c in [*METADATA_COLUMNS, RAW_COLUMN, *SOFT_DELETE_COLUMNS]} | {"_seq"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None


def deep_merge(base: dict, override: dict) -> dict:
    """`override` wins; nested objects merge key by key, lists and scalars are replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class EntityConfig:
    """A validated entity config, its source defaults merged in, and its BigQuery schema."""

    name: str
    spec: dict
    fields: list[dict]

    @property
    def request(self) -> dict:
        return self.spec["request"]

    @property
    def source(self) -> str:
        return self.name.split("/")[0]

    @property
    def records(self) -> dict:
        return self.spec["records"]

    @property
    def fan_out(self) -> dict | None:
        return self.spec.get("fan_out")

    @property
    def required_columns(self) -> list[str]:
        """Columns every row must have: the merge keys, the cursor, and an immutable partition
        column (the pruned MERGE matches on it)."""
        columns = self.merge_keys + ([self.cursor_field] if self.cursor_field else [])
        if self.immutable_partition and self.immutable_partition not in columns:
            columns.append(self.immutable_partition)
        return columns

    @property
    def immutable_partition(self) -> str | None:
        partition = self.target.get("partition", {})
        return partition["field"] if partition.get("immutable") else None

    @property
    def max_rejects(self) -> int:
        return self.records.get("max_rejects", 0)

    @property
    def availability_lag(self) -> timedelta:
        return parse_duration(self.spec.get("availability_lag", "PT0S"))

    @property
    def pagination(self) -> dict:
        return self.spec["pagination"]

    @property
    def date_filter(self) -> dict | None:
        return self.spec.get("date_filter")

    @property
    def auth(self) -> dict:
        return self.spec.get("auth", {"type": "none"})

    @property
    def http(self) -> dict:
        return self.spec.get("http", {})

    @property
    def cursor_field(self) -> str | None:
        return self.spec.get("cursor_field")

    @property
    def merge_keys(self) -> list[str]:
        return self.spec["merge_keys"]

    @property
    def start_date(self) -> datetime:
        return parse_instant(self.spec["start_date"])

    @property
    def lookback(self) -> timedelta:
        return parse_duration(self.spec.get("lookback", "PT0S"))

    @property
    def step(self) -> timedelta | None:
        step = (self.date_filter or {}).get("step")
        return parse_duration(step) if step else None

    @property
    def target(self) -> dict:
        return self.spec["target"]

    @property
    def columns(self) -> list[str]:
        return [f["name"] for f in self.fields]

    @property
    def table_fields(self) -> list[dict]:
        """The target table's schema: the entity's columns plus the loader's metadata columns."""
        return (self.fields + METADATA_COLUMNS + ([RAW_COLUMN] if self.target.get("raw_json") else [])
                + (SOFT_DELETE_COLUMNS if self.absent_rows == "soft_delete" else []))

    @property
    def absent_rows(self) -> str:
        """What a complete historical_full snapshot does with rows it no longer has."""
        return self.spec.get("full_refresh", {}).get("absent_rows", "hard_delete")

    @property
    def description(self) -> str:
        return self.spec.get("description") or f"{self.name}, ingested by config/{self.name}.json"


def config_files(config_dir: Path) -> dict[str, Path]:
    """`<source>/<entity>` → config file, for every entity config under `config_dir`."""
    return {
        f"{p.parent.name}/{p.stem}": p
        for p in sorted(config_dir.glob("*/*.json"))
        if p.name != SOURCE_FILE
    }


def load_entity(name: str, config_dir: Path, schema_dir: Path,
                allow_unset: Collection[str] = ()) -> EntityConfig:
    """Load, validate and cross-check one entity. `name` must be one of `config_files()`: a message
    can only pick among the configs that exist, never point at a path. `${NAME}` references are
    expanded (see ingestion/contract/envrefs.py); an unset one is a ConfigError unless its top-level key is
    in `allow_unset` (commands that call no API: `envrefs.API_FIELDS` or `ALL_FIELDS`)."""
    path = config_files(config_dir).get(name)
    if path is None:
        raise PayloadError(f"unknown entity {name!r}: there is no config/{name}.json")
    return _load(name, path, schema_dir / f"{name}.json", allow_unset)


def _check(kind: str, document: Any, path: Path, context: str = "") -> None:
    problems = schema_errors(kind, document)
    if problems:
        raise ConfigError(f"{path}{context}: " + "; ".join(problems))


def _load(name: str, path: Path, schema_path: Path, allow_unset: Collection[str]) -> EntityConfig:
    entity = _read_json(path)
    _check("entity", entity, path)
    source_path = path.parent / SOURCE_FILE
    source: dict = {}
    if source_path.exists():
        source = _read_json(source_path)
        _check("source", source, source_path)
    spec = deep_merge(source, entity)
    expand(spec, lambda keys: path if has_key(entity, keys) else source_path, allow_unset)
    spec.setdefault("target", {}).setdefault("table", path.stem)
    spec.pop("$schema", None)
    _check("resolved", spec, path, f" (merged with {SOURCE_FILE})")
    fields = _read_json(schema_path)
    _check("bq", fields, schema_path)
    problems = cross_check(spec, fields)
    parent = spec.get("fan_out", {}).get("from_entity", {}).get("entity")
    if parent and parent not in config_files(path.parent.parent):
        problems.append(f"fan_out.from_entity: there is no config/{parent}.json")
    if problems:
        raise ConfigError(f"{path} vs {schema_path}: " + "; ".join(problems))
    return EntityConfig(name=name, spec=spec, fields=fields)


def cross_check(spec: dict, fields: list[dict]) -> list[str]:
    """Semantic checks the JSON Schema cannot express: the config's columns against the BQ schema."""
    problems: list[str] = []
    by_name = {f["name"]: f for f in fields}
    lowered = [n.lower() for n in by_name]
    dupes = sorted({n for n in lowered if lowered.count(n) > 1})
    if dupes:
        problems.append(f"duplicate column names (BigQuery is case-insensitive): {', '.join(dupes)}")
    reserved = [n for n in by_name if n.lower() in RESERVED_COLUMNS
                or n.upper().startswith(("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP"))]
    if reserved:
        problems.append(f"reserved column names in the schema: {', '.join(reserved)}")

    def scalar_column(role: str, column: str, allowed: set[str] | None = None) -> None:
        field = by_name.get(column)
        if field is None:
            problems.append(f"{role} {column!r} is not a column of the schema")
        elif field.get("mode") == "REPEATED" or field["type"] in NESTED_TYPES:
            problems.append(f"{role} {column!r} must be a scalar column, not {field['type']}"
                            f"{' REPEATED' if field.get('mode') == 'REPEATED' else ''}")
        elif allowed and field["type"] not in allowed:
            problems.append(f"{role} {column!r} has type {field['type']}; "
                            f"expected one of {', '.join(sorted(allowed))}")

    for key in spec["merge_keys"]:
        scalar_column("merge key", key)
    if "fan_out" in spec:
        scalar_column("fan_out.column", spec["fan_out"]["column"])
    records = spec["records"]
    for group in ("fields", "computed"):
        problems.extend(f"records.{group}: {column!r} is not a column of the schema"
                        for column in records.get(group, {}) if column not in by_name)
    if "item" in records.get("computed", {}).values() and "fan_out" not in spec:
        problems.append("records.computed uses item, but the entity has no fan_out")
    if records.get("format") == "jsonl" and records.get("path"):
        problems.append("records.path must be empty for format jsonl (each line is a record)")
    problems.extend(placeholder_problems(spec))
    if spec.get("cursor_field"):
        scalar_column("cursor_field", spec["cursor_field"], TIME_TYPES)
    target = spec["target"]
    if "partition" in target:
        scalar_column("partition field", target["partition"]["field"], TIME_TYPES)
    for column in target.get("cluster_by", []):
        scalar_column("cluster_by column", column)
    try:
        parse_instant(spec["start_date"])
    except ValueError as exc:
        problems.append(f"start_date: {exc}")
    return problems


def placeholder_problems(spec: dict) -> list[str]:
    """Placeholders must have something to fill them: `{item}` a fan_out, `{job_id}` an async_job;
    a date_filter without start_param/end_param must place `{start}` itself."""
    job = spec.get("async_job", {})
    used = placeholders_in([spec["request"], job.get("create"), job.get("poll")])
    problems = []
    if "item" in used and "fan_out" not in spec:
        problems.append("{item} is used, but the entity has no fan_out")
    if "job_id" in used and not job:
        problems.append("{job_id} is used, but the entity has no async_job")
    if "job_id" in placeholders_in(job.get("create")):
        problems.append("async_job.create cannot use {job_id}: the job does not exist yet")
    date_filter = spec.get("date_filter")
    if date_filter and not {"start_param", "end_param"} & set(date_filter) and "start" not in used:
        problems.append("date_filter has no start_param/end_param and no request uses {start}")
    return problems


def validate_all(config_dir: Path, schema_dir: Path) -> dict[str, str]:
    """Validate every config (and orphan schema) under the two folders: `file → problem`. A
    `${NAME}` that is not set here is checked with a placeholder (`envrefs.scan` lists them)."""
    problems: dict[str, str] = {}
    for source_path in sorted(config_dir.glob(f"*/{SOURCE_FILE}")):
        try:
            _check("source", _read_json(source_path), source_path)
        except ConfigError as exc:
            problems[str(source_path)] = str(exc)
    names = config_files(config_dir)
    for name in names:
        try:
            load_entity(name, config_dir, schema_dir, ALL_FIELDS)
        except ConfigError as exc:
            problems[str(names[name])] = str(exc)
    for schema_path in sorted(schema_dir.glob("*/*.json")):
        name = f"{schema_path.parent.name}/{schema_path.stem}"
        if name not in names:
            problems[str(schema_path)] = f"{schema_path}: no config/{name}.json uses this schema"
    return problems
