"""`scaffold --update <entity>`: write the columns the loader added to the entity's table by itself
(`schema.on_new_field: add_column`, ingestion/warehouse/newcolumns.py) back into its schema JSON,
so the schema file says again what the table holds, and a reviewer sees each addition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ingestion.contract.config import cross_check, load_entity
from ingestion.contract.envrefs import API_FIELDS
from ingestion.contract.schema import schema_errors
from ingestion.warehouse.newcolumns import loader_added
from utils import bq_helper


@dataclass
class SchemaUpdate:
    path: Path  # the schema JSON
    table_id: str
    fields: list[dict]  # its content with the additions
    added: list[dict]


def update_schema(name: str, config_dir: Path, schema_dir: Path, project: str) -> SchemaUpdate:
    """The entity's schema JSON with the loader's columns appended, validated like any schema
    before the caller writes anything."""
    entity = load_entity(name, config_dir, schema_dir, API_FIELDS)
    table_id = f"{project}.{entity.target.dataset}.{entity.target.table}"
    table = bq_helper.get_table(table_id)
    if table is None:
        raise ValueError(f"table {table_id} does not exist: no column to read")
    added = loader_added(table, entity.table_fields)
    fields = [*entity.fields, *added]
    problems = schema_errors("bq", fields) or cross_check(replace(entity, fields=fields))
    if problems:
        raise ValueError(f"the schema with the added columns does not validate: {'; '.join(problems)}")
    return SchemaUpdate(schema_dir / f"{name}.json", table_id, fields, added)


def write_update(name: str, config_dir: Path, schema_dir: Path, project: str | None,
                 stdout: bool = False) -> list[str]:
    """Apply `update_schema` to the file (or print it, `stdout`); returns what to tell the user:
    each addition, or that there is none (then nothing is written)."""
    from ingestion.ops.scaffold import dumps

    if not project:
        raise ValueError("no project: set GOOGLE_CLOUD_PROJECT to the project of the table")
    update = update_schema(name, config_dir, schema_dir, project)
    if not update.added:
        return [f"{name}: {update.table_id} has no column the loader added that {update.path} lacks: "
                "nothing written"]
    lines = [f"added: {c['name']} {c['type']} ({c['description']})" for c in update.added]
    if stdout:
        return [*lines, f"--- {update.path}\n{dumps(update.fields)}".rstrip("\n")]
    update.path.write_text(dumps(update.fields))
    return [*lines, f"wrote {update.path}", "next: review the added columns (names, types, "
            "descriptions), then python -m ingestion validate"]
