"""Target tables: created from the schema JSON (partitioning, clustering, descriptions), or brought up
to date with it: a new NULLABLE column is added, a REQUIRED column may be relaxed, descriptions and
clustering follow the files. Anything BigQuery cannot change in place (a type, a new REQUIRED
column, tightening a mode, the partitioning) fails with every problem listed, before the run fetches
or loads anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ingestion.contract.errors import ConfigError
from ingestion.contract.sections import PartitionSpec
from utils import bq_helper

log = logging.getLogger("ingestion.warehouse.tables")

# The API may answer with legacy type names; compare canonical ones.
_CANONICAL = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "STRUCT": "RECORD",
              "DECIMAL": "NUMERIC", "BIGDECIMAL": "BIGNUMERIC"}


class SchemaMismatch(ConfigError):
    """The existing table cannot take the schema JSON without a manual migration."""


def _type(f: dict) -> str:
    kind = f["type"].upper()
    return _CANONICAL.get(kind, kind)


def _mode(f: dict) -> str:
    return (f.get("mode") or "NULLABLE").upper()


@dataclass
class SchemaPlan:
    """How an existing table's schema becomes the schema JSON's (column paths are dotted)."""

    schema: list[dict] = field(default_factory=list)  # the table's schema afterwards
    added: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    described: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the table, gone from the schema JSON
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.relaxed or self.described)


def plan_schema(current: list[dict], desired: list[dict]) -> SchemaPlan:
    """Compare the table's fields with the schema JSON's (both in the API's JSON form)."""
    plan = SchemaPlan()
    plan.schema = _merge_fields(current, desired, "", plan)
    return plan


def _merge_fields(current: list[dict], desired: list[dict], prefix: str, plan: SchemaPlan) -> list[dict]:
    wanted = {f["name"].lower(): f for f in desired}
    merged = []
    for have in current:
        path = prefix + have["name"]
        want = wanted.pop(have["name"].lower(), None)
        if want is not None:
            merged.append(_merge_field(have, want, path, plan))
            continue
        merged.append(have)  # never dropped: its data stays, new rows leave it NULL
        if _mode(have) == "REQUIRED":
            plan.problems.append(f"{path}: REQUIRED in the table but not in the schema JSON, so new "
                                 "rows could not be written; keep it, or relax it in BigQuery first")
        else:
            plan.kept.append(path)
    for want in wanted.values():
        path = prefix + want["name"]
        if _mode(want) == "REQUIRED":
            plan.problems.append(f"{path}: a new column cannot be REQUIRED (the existing rows have no "
                                 "value); add it as NULLABLE")
        else:
            plan.added.append(path)
            merged.append(want)
    return merged


def _merge_field(have: dict, want: dict, path: str, plan: SchemaPlan) -> dict:
    merged = dict(have)
    if _type(have) != _type(want):
        plan.problems.append(f"{path}: type {_type(have)} in the table, {_type(want)} in the schema "
                             "JSON; BigQuery cannot change it in place")
        return merged
    modes = _mode(have), _mode(want)
    if modes == ("REQUIRED", "NULLABLE"):
        plan.relaxed.append(path)
        merged["mode"] = "NULLABLE"
    elif modes[0] != modes[1]:
        plan.problems.append(f"{path}: mode {modes[0]} in the table, {modes[1]} in the schema JSON; "
                             "only REQUIRED → NULLABLE can change in place")
    if want.get("description") and want.get("description") != have.get("description"):
        plan.described.append(path)
        merged["description"] = want["description"]
    if _type(have) == "RECORD":
        merged["fields"] = _merge_fields(have.get("fields", []), want.get("fields", []), path + ".", plan)
    return merged


@dataclass(frozen=True)
class TableSpec:
    """What a managed table should look like."""

    table_id: str
    fields: list[dict]
    description: str
    partition: PartitionSpec | None = None
    cluster_by: tuple[str, ...] = ()
    schema_file: str = "the schema JSON"


def ensure_table(spec: TableSpec) -> None:
    """Create the table, or evolve it to `spec`; raises SchemaMismatch before changing anything
    when that cannot be done in place."""
    table = bq_helper.get_table(spec.table_id)
    if table is None:
        partition = spec.partition
        bq_helper.create_table(spec.table_id, bq_helper.schema_from_json(spec.fields),
                               partition_field=partition.field if partition else None,
                               partition_granularity=partition.granularity if partition else "DAY",
                               cluster_by=spec.cluster_by, description=spec.description)
        log.info("created table %s", spec.table_id)
        return
    plan = plan_schema([f.to_api_repr() for f in table.schema], spec.fields)
    plan.problems.extend(_partition_problems(table, spec.partition))
    if plan.problems:
        raise SchemaMismatch(
            f"table {spec.table_id} cannot take {spec.schema_file} without a manual migration "
            f"(nothing was fetched or loaded): " + "; ".join(plan.problems))
    if plan.kept:
        log.warning("columns %s of %s are no longer in %s: kept, and left NULL in new rows",
                    ", ".join(plan.kept), spec.table_id, spec.schema_file)
    _apply(table, plan, spec)


def _partition_problems(table, partition: PartitionSpec | None) -> list[str]:
    if not partition:
        return []
    have = table.time_partitioning
    want_field, want_type = partition.field, partition.granularity
    if have is None or (have.field or "").lower() != want_field.lower() or have.type_ != want_type:
        now = f"{have.type_} on {have.field or '_PARTITIONTIME'}" if have else "not partitioned"
        return [f"partitioning: the table is {now}, the config asks for {want_type} on {want_field}; "
                "partitioning cannot change in place (recreate the table, then replay)"]
    return []


def _apply(table, plan: SchemaPlan, spec: TableSpec) -> None:
    by_name = {f["name"]: f for f in plan.schema}
    for path in plan.added:  # DDL for top-level columns; nested ones come with the schema patch
        if "." not in path:
            bq_helper.add_column(spec.table_id, bq_helper.schema_from_json([by_name[path]])[0])
    for path in plan.relaxed:
        if "." not in path:
            bq_helper.drop_not_null(spec.table_id, path)
    changes: dict = {}
    if plan.changed:
        changes["schema"] = bq_helper.schema_from_json(plan.schema)
    if spec.description != table.description:
        changes["description"] = spec.description
    if list(spec.cluster_by) != list(table.clustering_fields or []):
        changes["clustering_fields"] = list(spec.cluster_by) or None
    if changes:
        bq_helper.update_table(spec.table_id, **changes)
        log.info("updated table %s: %s", spec.table_id, "; ".join(
            f"{what} {', '.join(paths)}" for what, paths in
            (("added", plan.added), ("relaxed", plan.relaxed), ("described", plan.described)) if paths)
            or ", ".join(changes))
