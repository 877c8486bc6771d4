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

from ingestion.contract.envrefs import ALL_FIELDS, expand, has_key
from ingestion.contract.errors import ConfigError, PayloadError
from ingestion.contract.jsonpath import PathSyntaxError, compile_path
from ingestion.contract.placeholders import placeholders_in
from ingestion.contract.schema import entity_schema, schema_errors
from ingestion.contract.sections import IncrementalSpec, Sections, parse_sections, with_defaults

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


@dataclass(frozen=True, kw_only=True)
class EntityConfig(Sections):
    """A validated entity config, its source defaults merged in and every schema default applied,
    as typed sections (ingestion/contract/sections.py), and its BigQuery schema."""

    name: str
    fields: list[dict]

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
    def columns(self) -> list[str]:
        return [f["name"] for f in self.fields]

    @property
    def table_fields(self) -> list[dict]:
        """The target table's schema: the entity's columns plus the loader's metadata columns."""
        return (self.fields + METADATA_COLUMNS + ([RAW_COLUMN] if self.target.raw_json else [])
                + (SOFT_DELETE_COLUMNS if self.absent_rows == "soft_delete" else []))

    @property
    def absent_rows(self) -> str:
        """What a complete historical_full snapshot does with rows it no longer has."""
        return self.full_refresh.absent_rows

    @property
    def table_description(self) -> str:
        return self.description or f"{self.name}, ingested by config/{self.name}.json"

    @classmethod
    def parse(cls, name: str, spec: dict, fields: list[dict]) -> EntityConfig:
        """From a resolved config (valid against the schema): defaults applied, sections typed."""
        return cls(name=name, fields=fields, **parse_sections(with_defaults(spec, entity_schema())))


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
    try:
        entity = EntityConfig.parse(name, spec, fields)
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
                or n.upper().startswith(("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP"))]
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
    problems.extend(placeholder_problems(entity))
    problems.extend(graphql_problems(entity))
    if entity.cursor_field:
        scalar_column("cursor_field", entity.cursor_field, CURSOR_TYPES[entity.incremental.cursor_type])
    problems.extend(incremental_problems(entity))
    if entity.target.partition:
        scalar_column("partition field", entity.target.partition.field, TIME_TYPES)
    for column in entity.target.cluster_by:
        scalar_column("cluster_by column", column)
    return problems


def incremental_problems(entity: EntityConfig) -> list[str]:
    """`incremental` reads the cursor; a sequence cursor has no dates to plan windows with."""
    spec = entity.incremental
    if spec == IncrementalSpec():
        return []
    if not entity.cursor_field:
        return ["incremental: needs cursor_field (the column it compares)"]
    problems = []
    if spec.sequence and entity.date_filter is not None:
        problems.append(f"incremental.cursor_type {spec.cursor_type}: a date_filter plans time windows; "
                        "send the watermark with incremental.param instead")
    if spec.sequence and entity.lookback:
        problems.append(f"lookback: a duration cannot be taken off an {spec.cursor_type} cursor")
    if spec.param and not spec.sequence:
        problems.append("incremental.param: only for cursor_type integer or string "
                        "(a timestamp watermark goes in through date_filter)")
    return problems


DELIMITED = ("csv", "tsv")  # one record per row
BODYLESS = ("jsonl", *DELIMITED)  # no parsed body: nothing for a body path to read
BODY_PATHS = ("total_pages_path", "total_count_path", "cursor_path", "next_url_path", "is_last_path",
              "has_more_path", "page_info_path")


def format_problems(entity: EntityConfig) -> list[str]:
    """Each `records` setting belongs to a format, and a format without a body cannot be paged by
    paths into it; XML values are text, so a true/false flag in it never ends a walk."""
    records, fmt = entity.records, entity.records.format
    delimited = fmt in DELIMITED
    problems = []
    if delimited and records.path:
        problems.append(f"records.path must be empty for format {fmt} (each row is a record)")
    misplaced = [name for name, used in (
        ("delimiter", records.delimiter is not None), ("quote_char", records.quote_char is not None),
        ("column_names", bool(records.column_names)), ("header", not records.header)) if used]
    if misplaced and not delimited:
        problems.append(f"records.{', records.'.join(misplaced)}: only for format csv or tsv, not {fmt}")
    if delimited and not records.header and not records.column_names:
        problems.append("records.header is false: name the columns with records.column_names")
    if delimited and records.delimiter is not None and records.delimiter == records.quote_char:
        problems.append("records.delimiter and records.quote_char must differ")
    if records.namespaces and fmt != "xml":
        problems.append(f"records.namespaces: only for format xml, not {fmt}")
    if records.columns and fmt in BODYLESS:
        problems.append(f"records.columns reads column names from the body, which format {fmt} has not")
    if fmt in BODYLESS:
        problems.extend(f"pagination.{name} reads the response body, which format {fmt} has not"
                        for name in BODY_PATHS if entity.pagination.get(name))
    if fmt == "xml":
        problems.extend(f"pagination.{name}: XML values are text, never true or false; page by a "
                        "total or until an empty page" for name in ("is_last_path", "has_more_path")
                        if entity.pagination.get(name))
    return problems


def path_settings(entity: EntityConfig) -> list[tuple[str, str, bool]]:
    """(setting, path, reads one value) for every path the config holds (docs/config.md#paths)."""
    records, job, fan_out = entity.records, entity.async_job, entity.fan_out
    found = [("records.path", records.path, False),
             *((f"records.fields.{column}", path, False) for column, path in records.fields.items())]
    choices = [("pagination", entity.pagination), ("auth", entity.auth)]
    source = fan_out.from_endpoint if fan_out else None
    if source:
        found += [("fan_out.from_endpoint.records_path", source.records_path, False),
                  ("fan_out.from_endpoint.value_path", source.value_path, True)]
        choices.append(("fan_out.from_endpoint.pagination", source.pagination))
    if job:
        found += [(f"async_job.{name}", getattr(job, name), True)
                  for name in ("job_id_path", "status_path", "result_url_path")]
    found += [(f"{where}.{name}", value, True) for where, choice in choices
              for name, value in choice.options.items() if name.endswith("_path")]
    for number, rule in enumerate(entity.response_actions):
        found += [(f"response_actions[{number}].path", rule.path, False),
                  (f"response_actions[{number}].message_path", rule.message_path, True)]
    return [(setting, path, one) for setting, path, one in found if isinstance(path, str)]


def path_problems(entity: EntityConfig) -> list[str]:
    """Every path parses; one that must reach a single value has no `[*]`; a downloaded report is
    one file, not pages."""
    problems = []
    for setting, path, one in path_settings(entity):
        try:
            compiled = compile_path(path)
        except PathSyntaxError as exc:
            problems.append(f"{setting}: {exc}")
            continue
        if one and compiled.wildcard:
            problems.append(f"{setting}: {path!r} has [*], which gives a list; this setting reads one value")
    job = entity.async_job
    if job and job.result_url_path and entity.pagination.type != "single":
        problems.append("async_job.result_url_path: the report is one downloaded file; pagination "
                        f"must be single, not {entity.pagination.type}")
    return problems


def placeholder_problems(entity: EntityConfig) -> list[str]:
    """Placeholders must have something to fill them: `{item}` a fan_out, `{job_id}` an async_job;
    a date_filter without start_param/end_param must place `{start}` itself."""
    job = entity.async_job
    requests = [entity.request, *([job.create, job.poll] if job else [])]
    used = placeholders_in([[r.path, r.params, r.headers, r.body] for r in requests])
    problems = []
    if "item" in used and not entity.fan_out:
        problems.append("{item} is used, but the entity has no fan_out")
    if "job_id" in used and not job:
        problems.append("{job_id} is used, but the entity has no async_job")
    if job and "job_id" in placeholders_in([job.create.path, job.create.params, job.create.body]):
        problems.append("async_job.create cannot use {job_id}: the job does not exist yet")
    date_filter = entity.date_filter
    if date_filter and not (date_filter.start_param or date_filter.end_param) and "start" not in used:
        problems.append("date_filter has no start_param/end_param and no request uses {start}")
    return problems


def graphql_problems(entity: EntityConfig) -> list[str]:
    """GraphQL paging writes its cursor into `request.body.variables`: the query must be POSTed
    as a JSON body (a GET would send neither the query nor the cursor)."""
    if entity.pagination.type != "graphql":
        return []
    request, problems = entity.request, []
    if (request.method or "GET").upper() != "POST" or not isinstance(request.body, dict):
        problems.append("pagination graphql: the query goes in request.body ({\"query\": …, \"variables\": "
                        "{…}}) with request.method POST")
    elif not isinstance(request.body.get("variables", {}), dict):
        problems.append("pagination graphql: request.body.variables must be an object")
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
