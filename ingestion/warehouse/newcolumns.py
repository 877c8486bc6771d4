"""Columns the loader added to a target table by itself (`schema.on_new_field: add_column`).

The table is where they are remembered: each is created with a description starting with
`ADDED_BY_LOADER`, so a later run reads them as part of the entity (its fields = the schema JSON's
+ these), and `scaffold --update` finds what to write back into the schema JSON. Columns merely
kept in the table after leaving the schema JSON carry no such mark and stay out of both.
"""

from __future__ import annotations

from dataclasses import replace

from ingestion.contract.config import EntityConfig
from utils import bq_helper

ADDED_BY_LOADER = "Added by the loader (schema.on_new_field add_column)"
_STANDARD = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}  # the API answers legacy names


def added_note(kind: str, run_id: str) -> str:
    return f"{ADDED_BY_LOADER}: {kind}, inferred from the values of run {run_id}."


def as_field(column) -> dict:
    """A column of the table (a SchemaField) in the schema JSON's form."""
    field = {k: v for k, v in column.to_api_repr().items() if v is not None and v != []}
    field["type"] = _STANDARD.get(field["type"], field["type"])
    field.setdefault("mode", "NULLABLE")
    return field


def loader_added(table, known: list[dict]) -> list[dict]:
    """The columns of `table` the loader added that `known` (schema JSON + loader columns) lacks."""
    names = {f["name"].lower() for f in known}
    return [as_field(c) for c in table.schema
            if (c.description or "").startswith(ADDED_BY_LOADER) and c.name.lower() not in names]


def with_added_columns(entity: EntityConfig, table_id: str) -> EntityConfig:
    """`entity` with the columns the loader added to its table among its fields (with
    `add_column` only: with `report` such columns are just kept, as any column the schema JSON
    dropped)."""
    if entity.schema.on_new_field != "add_column":
        return entity
    table = bq_helper.get_table(table_id)
    added = loader_added(table, entity.table_fields) if table is not None else []
    return replace(entity, fields=[*entity.fields, *added]) if added else entity
