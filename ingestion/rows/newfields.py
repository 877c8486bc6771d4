"""`schema.on_new_field: add_column`: a top-level record field no column reads becomes a NULLABLE
column of the target table, loaded from the very step that first sees it.

While a step is staged, the value of each such field is carried into its row as sent, and the
kinds of its values are tallied (`NewFields`). Before the step loads (`add_new_columns`), each
field gets the narrowest type holding all its values — INT64, FLOAT64 (integers and fractions
mixed), BOOL, TIMESTAMP (ISO 8601 date-times), JSON (objects and arrays), anything else mixed
STRING — the table gains the columns, and the step's staged parts are rewritten with the values
coerced to those types. Then the staging load and the MERGE run as for any column.

Adding a column is idempotent (`ALTER TABLE ADD COLUMN IF NOT EXISTS`): a redelivery after a crash
between the ALTER and the MERGE, or a run adding the same field concurrently, finds it there and
uses the table's type. A field whose values are all null waits until one is not. Keys BigQuery
cannot name as a column, or that another column or the loader already uses (case-insensitively),
are only reported, as with `report`.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ingestion.contract.config import RESERVED_COLUMNS, RESERVED_PREFIXES, EntityConfig
from ingestion.contract.errors import RecordError
from ingestion.contract.settings import Settings
from ingestion.rows.build import RowBuilder
from ingestion.rows.coerce import (
    INT64_MAX,
    INT64_MIN,
    CoercionError,
    coerce_value,
    field_coercer,
    to_timestamp,
    value_coercer,
)
from ingestion.source import jsoncodec
from ingestion.warehouse.load import ensure_target_table, target_table_id
from ingestion.warehouse.newcolumns import added_note, as_field
from ingestion.warehouse.writes import staging_fields, write_mode
from utils import bq_helper, gcs_helper

COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
# ISO 8601 date and time of day, zone optional (naive is UTC, as everywhere in the loader)
ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d(:?\d\d)?)?")


def kind_of(value: Any) -> str:
    """The BigQuery type one non-null JSON value would get on its own."""
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64" if INT64_MIN <= value <= INT64_MAX else "STRING"  # no digit is lost
    if isinstance(value, float):
        return "FLOAT64" if math.isfinite(value) else "STRING"
    if isinstance(value, dict | list):
        return "JSON"
    if isinstance(value, str) and ISO_INSTANT.fullmatch(value):
        try:
            to_timestamp(value)  # a real date (no 2026-02-30)
            return "TIMESTAMP"
        except CoercionError:
            pass
    return "STRING"


def column_type(kinds: set[str]) -> str:
    """The type holding values of all these kinds: integers with fractions are FLOAT64, anything
    else mixed is STRING (numbers as written, objects as JSON text)."""
    if len(kinds) == 1:
        return next(iter(kinds))
    return "FLOAT64" if kinds == {"INT64", "FLOAT64"} else "STRING"


@dataclass
class NewFields:
    """The step's new fields: carried into the rows as sent, the kinds of their values tallied."""

    known: frozenset[str]  # record keys some column reads
    taken: set[str]  # lower-case names a new column cannot have
    kinds: dict[str, set[str]] = field(default_factory=dict)
    eligible: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def for_entity(cls, entity: EntityConfig, known: frozenset[str]) -> NewFields | None:
        """None unless the entity adds columns (`schema.on_new_field: add_column`)."""
        if entity.schema.on_new_field != "add_column":
            return None
        loader = [*staging_fields(entity), *write_mode(entity).table_fields(entity)]
        taken = {f["name"].lower() for f in loader} | {c.lower() for c in RESERVED_COLUMNS}
        return cls(known, taken | {k.lower() for k in known})

    def carry(self, record: dict, row: dict) -> None:
        """Put the record's new fields (non-null) into its row as sent, and tally their kinds."""
        extra = record.keys() - self.known
        if not extra:
            return
        for key, value in record.items():  # in the record's order: the first of `score`/`Score` wins
            if key in extra and value is not None and (self.eligible.get(key) or self._admit(key)):
                row[key] = value
                self.kinds[key].add(kind_of(value))

    def _admit(self, key: str) -> bool:
        if key not in self.eligible:
            name = key.lower()
            ok = bool(COLUMN_NAME.fullmatch(key)) and name not in self.taken and not key.upper().startswith(
                RESERVED_PREFIXES)
            self.eligible[key] = ok
            if ok:
                self.taken.add(name)  # `Score` after `score` stays a key no column reads
                self.kinds[key] = set()
        return self.eligible[key]

    def fields(self) -> list[dict]:
        """The columns these fields need, each with the type its values agree on."""
        return [{"name": name, "type": column_type(kinds), "mode": "NULLABLE"}
                for name, kinds in self.kinds.items() if kinds]


def add_new_columns(entity: EntityConfig, settings: Settings, new: list[dict], uri: str,
                    run_id: str) -> tuple[EntityConfig, list[dict]]:
    """Before a step loads: add its new fields' columns to the target table and coerce their staged
    values (`uri`: the step's NDJSON parts) to the columns' types. Returns the entity with the
    columns among its fields, and the columns this call added (a column the table already has —
    a redelivery after a crash, a concurrent run — keeps its type, and is not added again)."""
    table_id = target_table_id(entity, settings)
    table = bq_helper.get_table(table_id)
    have = {c.name.lower(): c for c in table.schema} if table is not None else {}
    columns, added = [], []
    for spec in new:
        existing = have.get(spec["name"].lower())
        if existing is None:
            spec = {**spec, "description": added_note(spec["type"], run_id)}
            added.append(spec)
        else:
            spec = {**as_field(existing), "name": spec["name"]}
            spec.setdefault("description", added_note(spec["type"], run_id))
        columns.append(spec)
    entity = replace(entity, fields=[*entity.fields, *columns])
    ensure_target_table(entity, settings)  # ALTER TABLE ADD COLUMN IF NOT EXISTS, then the schema patch
    coerce_staged(uri, columns, RowBuilder.for_entity(entity).digest)
    return entity, added


def coerce_staged(uri: str, columns: list[dict], digest: Callable[[dict], str] | None = None) -> None:
    """Rewrite the staged NDJSON parts under `uri` with these columns' values, carried as sent,
    coerced to their types (inferred from these very values, so they all fit; only a column the
    table already had may refuse one: the step then fails, loading nothing). A history version's
    `_hash` (`digest`) is taken again: it covers the new columns from now on."""
    bucket, pattern = uri.removeprefix("gs://").split("/", 1)
    folder, parts = pattern.rsplit("/", 1)
    fix = _row_fixer(columns, digest)
    with gcs_helper.ParallelUploads() as uploads:
        for path in gcs_helper.list_paths(bucket, folder + "/"):
            name = path[len(folder) + 1:]
            if "/" in name or not fnmatch.fnmatchcase(name, parts):
                continue
            content, _ = gcs_helper.read(bucket, path)
            rows = [fix(jsoncodec.loads(line)) for line in (content or b"").splitlines() if line]
            uploads.submit(bucket, path, jsoncodec.dumps_lines(rows), "application/x-ndjson")


def _row_fixer(columns: list[dict], digest: Callable[[dict], str] | None) -> Callable[[dict], dict]:
    coercers = [(c["name"], value_coercer(c), field_coercer(c), c["type"]) for c in columns]

    def fix(row: dict) -> dict:
        for name, direct, full, kind in coercers:
            if name in row:
                try:
                    row[name] = coerce_value(row[name], name, direct, full)
                except CoercionError as exc:
                    raise RecordError(f"{exc}: the table's column {name} is {kind}, so this step loads "
                                      "nothing; fix the column or the schema JSON, then rerun") from None
        if digest is not None and "_hash" in row:
            row["_hash"] = digest(row)
        return row

    return fix
