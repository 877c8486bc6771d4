"""Entity configs: discovery, JSON Schema validation, source defaults, cross-check with the BQ schema.

`config/<source>/_source.json` (optional) holds what every entity of a source shares;
`config/<source>/<entity>.json` holds the entity; `schema/<source>/<entity>.json` is its BigQuery
schema in the `bq` CLI format. The JSON Schemas under `ingestion/contract/schemas/` are the contract.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingestion.contract import children as child_tables
from ingestion.contract.checks import (
    filter_problems,
    format_problems,
    graphql_problems,
    history_problems,
    incremental_problems,
    path_problems,
    placeholder_problems,
)
from ingestion.contract.cron import longest_gap
from ingestion.contract.envrefs import ALL_FIELDS, expand, has_key
from ingestion.contract.errors import ConfigError, PayloadError
from ingestion.contract.schema import entity_schema, schema_errors
from ingestion.contract.sections import ChildSpec, Sections, parse_sections, with_defaults
from ingestion.contract.writes import write_problems

SOURCE_FILE = "_source.json"
TIME_TYPES = {"TIMESTAMP", "DATETIME", "DATE"}
CURSOR_TYPES = {"timestamp": TIME_TYPES, "integer": {"INT64", "INTEGER"}, "string": {"STRING"}}
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
     "description": "TRUE once the row is deleted at the source: flagged or listed as deleted (deletes), "
                    "or missing from a complete historical_full snapshot (full_refresh)."},
    {"name": "_deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE",
     "description": "When it was deleted: the flagged record's cursor or the tombstone's time "
                    "(deletes), or when the snapshot that missed it finished."},
]
# Columns of a `target.write: history` table (ingestion/warehouse/history.py), after the others.
HISTORY_COLUMNS = [
    {"name": "_valid_from", "type": "TIMESTAMP", "mode": "NULLABLE",
     "description": "Start of this version: the record's cursor_field (else when it was extracted)."},
    {"name": "_valid_to", "type": "TIMESTAMP", "mode": "NULLABLE",
     "description": "End of this version: the next version's _valid_from, or when the record was "
                    "deleted; NULL while current."},
    {"name": "_is_current", "type": "BOOL", "mode": "NULLABLE",
     "description": "TRUE for the record's current version (_valid_to IS NULL)."},
    {"name": "_hash", "type": "STRING", "mode": "NULLABLE",
     "description": "Digest of the version's content (loader columns and cursor_field left out): "
                    "a record re-sent unchanged adds no version."},
]
HASH_COLUMN = HISTORY_COLUMNS[-1]  # also staged: computed when the rows are built
# staging only: `_seq` orders a run's rows, `_delete`/`_tombstone` mark deletions (warehouse/writes.py)
RESERVED_COLUMNS = ({c["name"] for c in [*METADATA_COLUMNS, RAW_COLUMN, *SOFT_DELETE_COLUMNS]}
                    | {"_seq", "_delete", "_tombstone"})
RESERVED_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP")  # BigQuery's own, upper-cased


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


@dataclass(frozen=True, kw_only=True)
class EntityConfig(Sections):
    """A validated entity config, its source defaults merged in and every schema default applied,
    as typed sections (ingestion/contract/sections.py), and its BigQuery schema."""

    name: str
    fields: list[dict]
    child_fields: dict[str, list[dict]]  # `children` name → its BigQuery schema JSON

    @property
    def source(self) -> str:
        return self.name.split("/")[0]

    @property
    def required_columns(self) -> list[str]:
        """Columns every row must have: the merge keys, the cursor, and an immutable partition
        column (the pruned MERGE matches on it)."""
        columns = [*self.merge_keys, *([self.cursor_field] if self.cursor_field else [])]
        if self.immutable_partition and self.immutable_partition not in columns:
            columns.append(self.immutable_partition)
        return columns

    @property
    def immutable_partition(self) -> str | None:
        partition = self.target.partition
        return partition.field if partition and partition.immutable else None

    @property
    def step(self) -> timedelta | None:
        return self.date_filter.step if self.date_filter else None

    @property
    def aligned(self) -> bool:
        """Windows snap to whole steps (export files): never cut one."""
        return bool(self.date_filter and self.date_filter.align and self.step)

    @property
    def freshness_objective(self) -> timedelta | None:
        """How old the last successful run may be before the entity is LATE: `freshness`, else twice
        the longest gap between two firings of its schedule (one missed run is not yet late), else
        none (an entity nobody schedules is never late)."""
        if self.freshness is not None:
            return self.freshness
        return 2 * longest_gap(self.schedule.cron) if self.schedule else None

    @property
    def columns(self) -> list[str]:
        return [f["name"] for f in self.fields]

    @property
    def table_fields(self) -> list[dict]:
        """The target table's schema: the entity's columns plus the loader's metadata columns."""
        return (self.fields + METADATA_COLUMNS + ([RAW_COLUMN] if self.target.raw_json else [])
                + (SOFT_DELETE_COLUMNS if self.soft_deletes else []))

    @property
    def soft_deletes(self) -> bool:
        """Deleted rows are kept, flagged `_deleted`/`_deleted_at` (full_refresh or deletes)."""
        return self.absent_rows == "soft_delete" or bool(self.deletes and self.deletes.mode == "soft_delete")

    def child_table_fields(self, child: ChildSpec) -> list[dict]:
        """A child table's schema: `_parent_<key>`, `_position`, its columns, the metadata columns."""
        return child_tables.table_fields(self.child_fields.get(child.name, []), self.fields, self.merge_keys,
                                         self.target.table, METADATA_COLUMNS)

    @property
    def absent_rows(self) -> str:
        """What a complete historical_full snapshot does with rows it no longer has."""
        return self.full_refresh.absent_rows

    @property
    def table_description(self) -> str:
        return self.description or f"{self.name}, ingested by config/{self.name}.json"

    @classmethod
    def parse(cls, name: str, spec: dict, fields: list[dict],
              child_fields: dict[str, list[dict]] | None = None) -> EntityConfig:
        """From a resolved config (valid against the schema): defaults applied, sections typed."""
        return cls(name=name, fields=fields, child_fields=child_fields or {},
                   **parse_sections(with_defaults(spec, entity_schema())))


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
    child_fields = {}
    for child in spec.get("children", ()):  # schema/<source>/<entity>.<name>.json
        child_path = child_tables.schema_path(schema_path, child["name"])
        child_fields[child["name"]] = _read_json(child_path)
        _check("bq", child_fields[child["name"]], child_path)
    try:
        entity = EntityConfig.parse(name, spec, fields, child_fields)
    except ValueError as exc:  # a date the schema's pattern lets through (2026-02-30)
        raise ConfigError(f"{path}: start_date: {exc}") from None
    problems = cross_check(entity)
    parent = entity.fan_out.from_entity.entity if entity.fan_out and entity.fan_out.from_entity else None
    if parent and parent not in config_files(path.parent.parent):
        problems.append(f"fan_out.from_entity: there is no config/{parent}.json")
    if problems:
        raise ConfigError(f"{path} vs {schema_path}: " + "; ".join(problems))
    return entity


def cross_check(entity: EntityConfig) -> list[str]:
    """Semantic checks the JSON Schema cannot express: the config's columns against the BQ schema."""
    problems: list[str] = []
    by_name = {f["name"]: f for f in entity.fields}
    lowered = [n.lower() for n in by_name]
    dupes = sorted({n for n in lowered if lowered.count(n) > 1})
    if dupes:
        problems.append(f"duplicate column names (BigQuery is case-insensitive): {', '.join(dupes)}")
    reserved = [n for n in by_name if n.lower() in RESERVED_COLUMNS
                or n.upper().startswith(RESERVED_PREFIXES)]
    if reserved:
        problems.append(f"reserved column names in the schema: {', '.join(reserved)}")

    def scalar_column(role: str, column: str, allowed: set[str] | None = None) -> None:
        field = by_name.get(column)
        repeated = field is not None and field.get("mode") == "REPEATED"
        if field is None:
            problems.append(f"{role} {column!r} is not a column of the schema")
        elif repeated or field["type"] in NESTED_TYPES:
            problems.append(f"{role} {column!r} must be a scalar column, not {field['type']}"
                            f"{' REPEATED' if repeated else ''}")
        elif allowed and field["type"] not in allowed:
            problems.append(f"{role} {column!r} has type {field['type']}; "
                            f"expected one of {', '.join(sorted(allowed))}")

    for key in entity.merge_keys:
        scalar_column("merge key", key)
    if entity.fan_out:
        scalar_column("fan_out.column", entity.fan_out.column)
    records = entity.records
    for group, columns in (("fields", records.fields), ("computed", records.computed)):
        problems.extend(f"records.{group}: {column!r} is not a column of the schema"
                        for column in columns if column not in by_name)
    if "item" in records.computed.values() and not entity.fan_out:
        problems.append("records.computed uses item, but the entity has no fan_out")
    if records.format == "jsonl" and records.path:
        problems.append("records.path must be empty for format jsonl (each line is a record)")
    problems.extend(format_problems(entity))
    problems.extend(path_problems(entity))
    problems.extend(filter_problems(entity))
    problems.extend(placeholder_problems(entity))
    problems.extend(graphql_problems(entity))
    if entity.cursor_field:
        scalar_column("cursor_field", entity.cursor_field, CURSOR_TYPES[entity.incremental.cursor_type])
    problems.extend(incremental_problems(entity))
    problems.extend(child_tables.problems(entity.children, entity.child_fields, entity.target.table,
                                          RESERVED_COLUMNS, entity.target.write))
    problems.extend(write_problems(entity))
    problems.extend(history_problems(entity))
    if entity.schedule:
        try:
            longest_gap(entity.schedule.cron)
        except ValueError as exc:
            problems.append(f"schedule.cron: {exc}")
    if entity.target.partition:
        scalar_column("partition field", entity.target.partition.field, TIME_TYPES)
    for column in entity.target.cluster_by:
        scalar_column("cluster_by column", column)
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
    used = set(names)  # and the child schemas (<entity>.<child>) of the entities
    for name in names:
        try:
            entity = load_entity(name, config_dir, schema_dir, ALL_FIELDS)
            used.update(f"{name}.{child.name}" for child in entity.children)
        except ConfigError as exc:
            problems[str(names[name])] = str(exc)
            used.update(f"{name}.{p.stem.partition('.')[2]}" for p in schema_dir.glob(f"{name}.*.json"))
    for schema_path in sorted(schema_dir.glob("*/*.json")):
        name = f"{schema_path.parent.name}/{schema_path.stem}"
        if name not in used:
            parent, _, child = name.partition(".")
            problems[str(schema_path)] = f"{schema_path}: " + (
                f"config/{parent}.json has no children entry {child!r}" if child and parent in names
                else f"no config/{name}.json uses this schema")
    return problems
