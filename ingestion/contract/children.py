"""Child tables (`children`): what a child table is and what its config must satisfy.

One API record can carry arrays of its own records (an order's line items); each `children` entry
loads one such array into a table of its own. The table holds the parent's merge keys as
`_parent_<key>`, the row's place in the array (`_position`), the columns of its schema JSON
(`schema/<source>/<entity>.<name>.json`) and the loader's metadata columns. A child row is
identified by the `_parent_*` columns plus the child's `keys`, or its `_position` without them.

Plain values in, plain values out: ingestion/contract/config.py reads the files and calls these.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.contract.sections import ChildSpec

PARENT_PREFIX = "_parent_"
POSITION = "_position"
POSITION_COLUMN = {"name": POSITION, "type": "INT64", "mode": "NULLABLE",
                   "description": "The row's 0-based place in its parent's array (the row's key when "
                                  "the child has no `keys`)."}
SCALAR_VALUE = "value"  # the column an array of scalars (tags) is read into


def schema_path(entity_schema: Path, child: str) -> Path:
    """`schema/<source>/<entity>.<child>.json`, next to the entity's own schema JSON."""
    return entity_schema.with_name(f"{entity_schema.stem}.{child}.json")


def parent_column(key: str) -> str:
    return PARENT_PREFIX + key


def key_columns(child: ChildSpec, merge_keys: tuple[str, ...]) -> list[str]:
    """The columns identifying a child row: the parent's keys, then the child's own or its place."""
    return [*map(parent_column, merge_keys), *(child.keys or (POSITION,))]


def table_fields(child_fields: list[dict], parent_fields: list[dict], merge_keys: tuple[str, ...],
                 parent_table: str, metadata: list[dict]) -> list[dict]:
    """A child table's schema: `_parent_<key>` (typed like the parent's key), `_position`, the
    child's own columns, the loader's metadata columns."""
    types = {f["name"]: f["type"] for f in parent_fields}
    parents = [{"name": parent_column(key), "type": types.get(key, "STRING"), "mode": "NULLABLE",
                "description": f"{key} of the parent row in {parent_table}."} for key in merge_keys]
    return [*parents, POSITION_COLUMN, *child_fields, *metadata]


def problems(children: tuple[ChildSpec, ...], child_fields: dict[str, list[dict]], parent_table: str,
             reserved: set[str], write: str = "merge") -> list[str]:
    """Names and tables used once (never the entity's own table); keys that are scalar columns of
    the child's schema; the loader's columns left to the loader."""
    found = []
    names = [c.name for c in children]
    tables = [t.lower() for t in (parent_table, *(c.table for c in children))]
    found += [f"children: name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    found += [f"children: table {t!r} is used twice (the entity's own table counts)"
              for t in sorted({t for t in tables if tables.count(t) > 1})]
    if children and write != "merge":
        found.append(f"children: only with target.write merge, not {write}")
    for child in children:
        where = f"children {child.name!r}"
        by_name = {f["name"]: f for f in child_fields.get(child.name, [])}
        lowered = [n.lower() for n in by_name]
        dupes = sorted({n for n in lowered if lowered.count(n) > 1})
        if dupes:
            found.append(f"{where}: duplicate column names (BigQuery is case-insensitive): "
                         f"{', '.join(dupes)}")
        loaders = [n for n in by_name
                   if n.lower() in reserved | {POSITION} or n.lower().startswith(PARENT_PREFIX)]
        if loaders:
            found.append(f"{where}: {', '.join(loaders)} are added by the loader; leave them out")
        for key in child.keys:
            field = by_name.get(key)
            if field is None:
                found.append(f"{where}: key {key!r} is not a column of the child's schema")
            elif field.get("mode") == "REPEATED" or field["type"] in ("RECORD", "STRUCT"):
                found.append(f"{where}: key {key!r} must be a scalar column, not {field['type']}"
                             f"{' REPEATED' if field.get('mode') == 'REPEATED' else ''}")
    return found
