"""Rows of the child tables (`children`), built from each parent record the page accepted.

A parent record and its arrays are one unit: a child element that cannot be loaded rejects the
whole record (parent and every child), so a table never holds a parent with half of its children
and an old version stays whole. Each child row carries the parent's merge keys (`_parent_<key>`),
its place in the array (`_position`), the parent row's metadata columns, and — in staging only —
the parent row's `_seq`, which ties it to that version of the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingestion.contract import children as contract
from ingestion.contract.config import METADATA_COLUMNS, EntityConfig
from ingestion.contract.errors import RecordError
from ingestion.contract.jsonpath import compile_path
from ingestion.contract.sections import ChildSpec
from ingestion.rows.build import _as_is, compile_row
from ingestion.rows.coerce import CoercionError, field_coercer, value_coercer

_COPIED = tuple(c["name"] for c in METADATA_COLUMNS)  # the parent row's lineage, copied to its children


@dataclass(frozen=True)
class ChildPlan:
    """One child: where its array is, and the compiled row function of its schema."""

    name: str
    items: Callable[..., Any]  # record → the array (or None)
    row: Callable[[dict, Any], dict]  # (constants, element) → row
    parents: tuple[tuple[str, str], ...]  # (child column, parent column)
    scalars: bool  # the schema has a `value` column: an element that is not an object goes there

    @classmethod
    def of(cls, entity: EntityConfig, child: ChildSpec) -> ChildPlan:
        fields = entity.child_fields[child.name]
        columns = [(f["name"], None, _as_is(f), value_coercer(f), field_coercer(f)) for f in fields]
        row = compile_row(f"{entity.name}.{child.name}", columns, list(child.keys), None)
        parents = tuple((contract.parent_column(k), k) for k in entity.merge_keys)
        scalars = any(f["name"] == contract.SCALAR_VALUE for f in fields)
        return cls(child.name, compile_path(child.path).get, row, parents, scalars)

    def rows(self, record: dict, parent: dict, seq: int) -> list[dict]:
        """The child rows of one accepted parent record (`parent` is its row). A missing or null
        array is an empty one: the parent has no such children (any loaded before are removed)."""
        items = self.items(record, None)
        if items is None:
            return []
        if not isinstance(items, list):
            raise RecordError(f"{self.name}: expected an array, got {type(items).__name__}")
        constants = {column: parent.get(key) for column, key in self.parents}
        constants.update((name, parent.get(name)) for name in _COPIED)
        out = []
        for position, item in enumerate(items):
            if self.scalars and not isinstance(item, dict):
                item = {contract.SCALAR_VALUE: item}
            try:
                row = self.row(constants, item)
            except CoercionError as exc:
                raise exc.within(f"{self.name}[{position}]") from None
            except RecordError as exc:
                raise RecordError(f"{self.name}[{position}]: {exc}") from None
            row[contract.POSITION] = position
            row["_seq"] = seq
            out.append(row)
        return out


class ChildRows:
    """The child rows of a page's accepted records, per child, until the stager takes them."""

    def __init__(self, entity: EntityConfig):
        self.plans = [ChildPlan.of(entity, child) for child in entity.children]
        self.pending: dict[str, list[dict]] = {plan.name: [] for plan in self.plans}

    @classmethod
    def for_entity(cls, entity: EntityConfig) -> ChildRows | None:
        return cls(entity) if entity.children else None

    def add(self, record: dict, parent: dict, seq: int) -> None:
        """Build every child's rows of one record first, so a reject leaves none of them behind."""
        built = [(plan.name, plan.rows(record, parent, seq)) for plan in self.plans]
        for name, rows in built:
            self.pending[name].extend(rows)

    def take(self) -> dict[str, list[dict]]:
        taken, self.pending = self.pending, {name: [] for name in self.pending}
        return taken
