"""`deletes.endpoint`: tombstones as staging rows (a record matching `deletes.when` is marked
where its row is built: ingestion/rows/build.py `deleted_marker`).

A tombstone (a record of `deletes.endpoint`) becomes a row of its key columns, the page's computed
columns and `_deleted_at` (its `deleted_at_field`, else when it was fetched), marked `_delete` and
`_tombstone`, every other column NULL: with no cursor it never moves the watermark, and it is not
counted as a record loaded. The write mode decides what the marks do (ingestion/warehouse/writes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.jsonpath import compile_path
from ingestion.model import Page
from ingestion.rows.build import computed_values
from ingestion.rows.coerce import MISSING, CoercionError, row_coercer

DELETED_AT = {"name": "_deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE"}


@dataclass
class TombstoneRows:
    """Tombstone record → staging row, for one entity."""

    entity: EntityConfig
    paths: list[tuple[str, Callable[..., Any]]]  # column → its reader in a tombstone
    coerce: Callable[[dict], dict]

    @classmethod
    def for_entity(cls, entity: EntityConfig) -> TombstoneRows:
        endpoint = entity.deletes.endpoint
        paths = [(column, compile_path(path).get) for column, path in endpoint.key_fields.items()]
        if endpoint.deleted_at_field:
            paths.append(("_deleted_at", compile_path(endpoint.deleted_at_field).get))
        wanted = {*endpoint.key_fields, *entity.records.computed, "_run_id", "_extracted_at",
                  "_source_object", *([entity.fan_out.column] if entity.fan_out else [])}
        if entity.cursor_field not in entity.merge_keys:  # a computed cursor: a tombstone has none
            wanted.discard(entity.cursor_field)
        fields = [f for f in entity.table_fields if f["name"] in wanted]
        return cls(entity, paths, row_coercer([*fields, DELETED_AT]))

    def rows(self, page: Page, first_seq: int) -> tuple[list[dict], list[dict]]:
        """(staging rows, rejects) for a tombstone page's records."""
        constants = computed_values(self.entity, page)
        rows, rejects = [], []
        for index, record in enumerate(page.records):
            try:
                rows.append(self.row(record, constants, first_seq + index + 1))
            except (CoercionError, ValueError) as exc:
                rejects.append({"source_object": page.source, "index": index,
                                "reason": f"tombstone: {exc}", "record": record})
        return rows, rejects

    def row(self, record: Any, constants: dict, seq: int) -> dict:
        if not isinstance(record, dict):
            raise ValueError(f"a tombstone must be a JSON object, got {type(record).__name__}")
        values = dict(constants)
        for column, read in self.paths:
            value = read(record, MISSING)
            if value is MISSING or value is None:
                if column == "_deleted_at":
                    continue
                raise ValueError(f"missing {column} (deletes.endpoint.key_fields)")
            values[column] = value
        row = self.coerce(values)
        row.update(_delete=True, _tombstone=True, _seq=seq)
        row.setdefault("_deleted_at", row["_extracted_at"])
        if self.entity.soft_deletes:
            row["_deleted"] = True
        return row
