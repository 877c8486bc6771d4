"""From a page's records to rows of the target table: each column taken from the record (by name, or
by a `records.fields` path), the page's computed values added (fan-out item, run id, extraction
time, `records.computed`), every value coerced to its BigQuery type.

This is the per-record hot path of a sync, so everything that depends only on the entity is worked
out once per run, and everything that depends only on the page (its computed values, already
coerced) once per page: a record costs one pass over the columns it supplies.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingestion.contract.conditions import compile_condition
from ingestion.contract.config import RAW_COLUMN, EntityConfig
from ingestion.contract.dates import to_rfc3339
from ingestion.contract.errors import RecordError
from ingestion.contract.jsonpath import compile_path
from ingestion.model import Page
from ingestion.rows.coerce import (
    MISSING,
    CoercionError,
    field_coercer,
    row_coercer,
    store_lines,
    value_coercer,
)
from ingestion.rows.coerce import as_is as _as_is

if TYPE_CHECKING:
    from ingestion.rows.children import ChildRows

# name, records.fields path, as-is test, the type's coercer, the column's (mode and blanks too)
Column = tuple[str, str | None, str, Callable[[Any], Any], Callable[[Any], Any]]

@dataclass
class RowBuilder:
    """Record → row for one entity. `for_page(computed)` gives the function for a page's records."""

    entity: EntityConfig
    known: frozenset[str]  # top-level record keys some column reads
    digest: Callable[[dict], str] | None = None  # `_hash` of a row (target.write history)
    mark: Callable[[Any, dict], None] | None = None  # marks a row deleted (deletes.when)
    _plans: dict[tuple, tuple[Callable[[dict], dict], Callable[[dict, Any], dict]]] = field(
        default_factory=dict)

    @classmethod
    def for_entity(cls, entity: EntityConfig) -> RowBuilder:
        paths = entity.records.fields
        firsts = (compile_path(p).first_key for p in paths.values())
        known = {c for c in entity.columns if c not in paths} | {k for k in firsts if k is not None}
        known |= {compile_path(child.path).first_key for child in entity.children} - {None}
        digest = content_hasher(entity) if entity.target.write == "history" else None
        return cls(entity, frozenset(known), digest, deleted_marker(entity))

    def for_page(self, computed: dict[str, Any]) -> Callable[[Any], dict]:
        """The row function for records of a page with these computed values. It raises
        RecordError or CoercionError: the reason a record is rejected."""
        coerce_constants, row = self._plan(computed)
        try:
            constants = coerce_constants(computed)
        except CoercionError as exc:  # e.g. a fan-out item that is not its column's type
            reason = exc

            def reject(record: Any) -> dict:
                raise reason

            return reject
        built = functools.partial(row, constants)
        return built if self.digest is None else functools.partial(_hashed, built, self.digest)

    def _plan(self, computed: dict[str, Any]) -> tuple[Callable[[dict], dict], Callable[[dict, Any], dict]]:
        """(the coercer of the computed columns, the compiled row function), built once: every
        page computes the same columns."""
        null = tuple(c for c in self.entity.required_columns if c in computed and computed[c] is None)
        key = (frozenset(computed), null)
        if key not in self._plans:
            paths = self.entity.records.fields
            columns = plan_columns([f for f in self.entity.fields if f["name"] not in computed], paths)
            required = [c for c in self.entity.required_columns if c not in computed or c in null]
            raw = RAW_COLUMN["name"] if self.entity.target.raw_json else None
            constant = [f for f in self.entity.table_fields if f["name"] in computed]
            self._plans[key] = row_coercer(constant), compile_row(self.entity.name, columns, required, raw)
        return self._plans[key]

    def unknown_keys(self, records: list[Any]) -> set[str]:
        try:
            keys = set().union(*map(dict.keys, records))
        except TypeError:  # a record that is not an object (it is rejected)
            keys = set().union(*(r.keys() for r in records if isinstance(r, dict)))
        return keys - self.known


# records.computed values that describe the run, not the record: they never make a new version
RUN_VALUES = frozenset({"run_id", "extracted_at", "window_start", "window_end"})


def content_columns(entity: EntityConfig) -> list[str]:
    """The columns a history version's `_hash` covers: the schema's, except the cursor (a record
    re-sent with only a newer cursor is the same version) and computed values of the run."""
    skip = {entity.cursor_field} | {c for c, v in entity.records.computed.items() if v in RUN_VALUES}
    return [c for c in entity.columns if c not in skip]


def content_hasher(entity: EntityConfig) -> Callable[[dict], str]:
    """`digest(row)`: BLAKE2b of the canonical JSON of a built row's content columns that are
    neither null nor empty — stable across runs and processes, and unchanged by a column added to
    the schema later (NULL in old rows) or an empty array (BigQuery stores none either)."""
    columns = content_columns(entity)
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str).encode

    def digest(row: dict) -> str:
        content = {c: v for c in columns if (v := row.get(c)) is not None and v != []}
        return hashlib.blake2b(encode(content).encode(), digest_size=16).hexdigest()

    return digest


def _hashed(built: Callable[[Any], dict], digest: Callable[[dict], str], record: Any) -> dict:
    row = built(record)
    row["_hash"] = digest(row)
    return row


def compile_row(entity: str, columns: list[Column], required: list[str],
                raw: str | None) -> Callable[[dict, Any], dict]:
    """`row(constants, record)` as straight-line code, one local per column: ~2.5 times faster
    than a loop over column descriptors, and this runs for every record (`python -m bench`).
    Each column's value takes the shortest path to the same result (`store_lines`): as sent when
    it passes its column's as-is test (or is an RFC 3339 UTC TIMESTAMP), an object straight into
    its RECORD's compiled coercer, anything else through `coerce_value`.
    `required` columns missing from the record (or computed as null: no local) reject it."""
    scope: dict[str, Any] = {"MISSING": MISSING, "missing": _missing, "not_an_object": _not_an_object}
    lines = ["def row(constants, record):",
             "    if not isinstance(record, dict):",
             "        raise not_an_object(record)",
             "    get = record.get"]
    local = {}
    for i, (name, path, _, _, _) in enumerate(columns):
        # a `records.fields` path is compiled once (ingestion/contract/jsonpath.py)
        scope[f"path{i}"] = path and compile_path(path).get
        local[name] = f"v{i}"
        lines.append(f"    v{i} = get({name!r}, MISSING)" if path is None
                     else f"    v{i} = path{i}(record, MISSING)")
    if required:
        tests = " or ".join(f"{local[c]} is None or {local[c]} is MISSING" if c in local else "True"
                            for c in required)
        pairs = ", ".join(f"({c!r}, {local.get(c, 'None')})" for c in required)
        lines += [f"    if {tests}:", f"        raise missing(({pairs},))"]
    lines.append("    out = {}")
    for i, (name, _, as_is, direct, full) in enumerate(columns):
        lines += store_lines(i, name, as_is, direct, full, scope)
    lines.append("    out.update(constants)")
    if raw:
        lines.append(f"    out[{raw!r}] = record")
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<row function of {entity}>", "exec"), scope)
    return scope["row"]


def plan_columns(fields: list[dict], paths: dict[str, str] | None = None) -> list[Column]:
    """compile_row's plan of `fields`: each read by name, or by its `records.fields` path."""
    paths = paths or {}
    return [(f["name"], paths.get(f["name"]), _as_is(f), value_coercer(f), field_coercer(f)) for f in fields]


def _missing(pairs: tuple[tuple[str, Any], ...]) -> RecordError:
    missing = [column for column, value in pairs if value is None or value is MISSING]
    return RecordError(f"missing {', '.join(missing)} (merge keys and cursor_field must be present)")


def _not_an_object(record: Any) -> RecordError:
    return RecordError(f"a record must be a JSON object, got {type(record).__name__}")


def page_rows(page: Page, entity: EntityConfig, rows_of: RowBuilder, first_seq: int,
              keep: Callable[[Any, Any], bool] | None = None,
              carry: Callable[[dict, dict], None] | None = None,
              children: ChildRows | None = None) -> tuple[list[dict], list[dict], int]:
    """(rows coerced to the table schema, rejects, records filtered out) for the page's records.
    `keep(record, slice)` (ingestion/rows/cursor.py) drops records outside the page's slice; they
    are counted, never rejected. `carry(record, row)` (ingestion/rows/newfields.py) adds the record's
    new fields to its row. `_seq` numbers rows in run order, so that on equal cursors the later row
    wins.
    `children` (ingestion/rows/children.py) collects each accepted record's child rows; a child
    that cannot be loaded rejects its whole record."""
    row = rows_of.for_page(computed_values(entity, page))
    if keep is None and carry is None and children is None and rows_of.mark is None:
        return _plain_rows(page, row, first_seq)
    rows, rejects, filtered = [], [], 0
    for index, record in enumerate(page.records):
        if keep is not None and not keep(record, page.slice):
            filtered += 1
            continue
        try:
            out = row(record)
            if children is not None:
                children.add(record, out, first_seq + index + 1)
        except (RecordError, CoercionError) as exc:
            rejects.append(_reject(page, index, exc, record))
            continue
        if carry is not None:
            carry(record, out)
        if rows_of.mark is not None:
            rows_of.mark(record, out)
        out["_seq"] = first_seq + index + 1
        rows.append(out)
    return rows, rejects, filtered


def _plain_rows(page: Page, row: Callable[[Any], dict], first_seq: int) -> tuple[list[dict], list[dict], int]:
    """page_rows without filters, children, new fields or deletes.when: the common case, with
    nothing in its loop but the row function."""
    rows: list[dict] = []
    rejects: list[dict] = []
    append = rows.append
    for seq, record in enumerate(page.records, first_seq + 1):
        try:
            out = row(record)
        except (RecordError, CoercionError) as exc:
            rejects.append(_reject(page, seq - first_seq - 1, exc, record))
            continue
        out["_seq"] = seq
        append(out)
    return rows, rejects, 0


def _reject(page: Page, index: int, exc: Exception, record: Any) -> dict:
    return {"source_object": page.source, "index": index, "reason": str(exc), "record": record}


def deleted_marker(entity: EntityConfig) -> Callable[[Any, dict], None] | None:
    """`mark(record, row)` for `deletes.when`: a matching record's row deletes its key (`_delete`;
    `_deleted` too under soft_delete) as of `_deleted_at` — its cursor when that is a TIMESTAMP
    (the same on every re-send), else when it was fetched. ingestion/warehouse/writes.py applies it."""
    deletes = entity.deletes
    if deletes is None or deletes.when is None:
        return None
    matches, soft = compile_condition(deletes.when), deletes.mode == "soft_delete"
    types = {f["name"]: f["type"] for f in entity.fields}
    cursor = entity.cursor_field if types.get(entity.cursor_field or "") == "TIMESTAMP" else None

    def mark(record: Any, row: dict) -> None:
        if matches(record):
            row["_delete"] = True
            row["_deleted_at"] = (cursor and row.get(cursor)) or row["_extracted_at"]
            if soft:
                row["_deleted"] = True

    return mark


def computed_values(entity: EntityConfig, page: Page) -> dict[str, Any]:
    """The loader's metadata columns, the fan-out item's column, and `records.computed` columns.
    They describe the run that fetched the page, so a replay reproduces them."""
    known = {"run_id": page.run_id, "extracted_at": to_rfc3339(page.fetched_at), "item": page.slice.item,
             "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end)}
    values = {column: known[source] for column, source in entity.records.computed.items()}
    if entity.fan_out:
        values[entity.fan_out.column] = page.slice.item
    values.update(_run_id=page.run_id, _extracted_at=known["extracted_at"], _source_object=page.source)
    if entity.soft_deletes:
        values["_deleted"] = False  # a row the API serves again is live again
    return values
