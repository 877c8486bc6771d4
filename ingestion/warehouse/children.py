"""Child tables in BigQuery: created and evolved with the target, loaded into their own staging
tables, and MERGEd in the step before the parent's MERGE, so a reader never sees a parent without
its children.

Which children a step applies is decided by the parent: of each parent key staged, only its
winning version (the one the parent's MERGE keeps: the newest cursor, then the later record) and
only when it is not older than the parent row already in the target. Those parents' children are
replaced as a set — inserted, updated, and the ones no longer in the array deleted — in one MERGE
per child table; a late older version of a parent changes none of them. Applying the same staging
twice changes nothing, so a crash between the children's MERGE and the parent's, followed by the
redelivery, ends with both tables right.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ingestion.contract import children as contract
from ingestion.contract.config import EntityConfig
from ingestion.contract.sections import ChildSpec
from ingestion.contract.settings import Settings
from ingestion.model import Staging
from ingestion.warehouse.load import STAGING_TTL, target_table_id
from ingestion.warehouse.tables import TableSpec, ensure_table
from ingestion.warehouse.writes import SEQ_COLUMN, is_deleted, is_tombstone, latest_per_key, quote
from utils import bq_helper

log = logging.getLogger("ingestion.warehouse.children")
CLUSTERABLE = {"STRING", "INT64", "INTEGER", "DATE", "TIMESTAMP", "DATETIME", "BOOL", "BOOLEAN", "NUMERIC",
               "BIGNUMERIC"}


def child_table_id(entity: EntityConfig, settings: Settings, child: ChildSpec) -> str:
    return f"{settings.project}.{entity.target.dataset}.{child.table}"


def ensure_child_tables(entity: EntityConfig, settings: Settings) -> None:
    """Create or evolve each child table like the target (before anything is fetched), clustered
    on the parent's keys: the children's MERGE looks rows up by them."""
    for child in entity.children:
        fields = entity.child_table_fields(child)
        cluster = tuple(f["name"] for f in fields[:len(entity.merge_keys)] if f["type"] in CLUSTERABLE)[:4]
        ensure_table(TableSpec(child_table_id(entity, settings, child), fields,
                               f"{child.name} of {entity.table_description}", cluster_by=cluster,
                               schema_file=f"schema/{entity.name}.{child.name}.json"))


def merge_children(entity: EntityConfig, settings: Settings, run_id: str, parent_staging: Staging,
                   parent_target: str, uris: dict[str, str], counts: dict[str, int]) -> int:
    """Load each child's staged NDJSON (`uris`, `counts` rows) and MERGE it; returns the child rows
    inserted, updated or deleted. Called before the parent's MERGE."""
    changed = 0
    for child in entity.children:
        staging = load_child_staging(entity, settings, run_id, child, uris[child.name], counts[child.name])
        target = child_table_id(entity, settings, child)
        sql = child_merge_sql(entity, child, target, staging, parent_staging, parent_target)
        affected = int(bq_helper.query(sql).num_dml_affected_rows or 0)
        log.info("%s: %d child row(s) inserted, updated or deleted", target, affected)
        changed += affected
        bq_helper.delete_table(staging)
    return changed


def load_child_staging(entity: EntityConfig, settings: Settings, run_id: str, child: ChildSpec,
                       uri: str, rows: int) -> str:
    """A fresh, expiring staging table with the child rows of the step; empty when the step's
    parents have no such children (their old ones are still removed)."""
    table_id = f"{settings.project}.{entity.target.dataset}._stg_{child.table}_{run_id}"
    schema = bq_helper.schema_from_json([*entity.child_table_fields(child), SEQ_COLUMN])
    bq_helper.delete_table(table_id)  # an empty step must not see an earlier step's rows
    bq_helper.create_table(table_id, schema, expires=datetime.now(UTC) + STAGING_TTL,
                           description=f"Staging for run {run_id} of {entity.name}.{child.name}")
    if rows:
        bq_helper.load_ndjson_from_gcs([uri], table_id, schema, truncate=True)
    return table_id


def winning_parents_sql(entity: EntityConfig, parent_staging: Staging, parent_target: str) -> str:
    """The staged parents whose children the step applies: each key's winning version (deduplicated
    as the parent's MERGE does; `_seq` names it) unless the target already holds a newer one.
    `_gone`: the version deletes its parent (`deletes` hard_delete: a newer flagged record or a
    tombstone), taking the children with it. A soft-deleting tombstone leaves them alone."""
    keys, cursor, deletes = entity.merge_keys, entity.cursor_field, entity.deletes
    gone = is_deleted("P") if deletes and deletes.mode == "hard_delete" else "FALSE"
    source, where = f"({latest_per_key(entity, parent_staging)}) P", []
    if cursor:
        match = " AND ".join(f"X.{quote(k)} = P.{quote(k)}" for k in keys)
        source += f" LEFT JOIN {quote(parent_target)} X ON {match}"
        c = quote(cursor)
        where.append(f"(X.{c} IS NULL OR P.{c} IS NULL OR P.{c} >= X.{c})")  # P.c is NULL: a tombstone
    if deletes and deletes.mode == "soft_delete":
        where.append(f"NOT {is_tombstone('P')}")
    listed = ", ".join(f"P.{quote(k)}" for k in keys)
    return (f"SELECT {listed}, P._seq, {gone} AS _gone FROM {source}"
            + (f"\n  WHERE {' AND '.join(where)}" if where else ""))


def child_merge_sql(entity: EntityConfig, child: ChildSpec, target: str, staging: str,
                    parent_staging: Staging, parent_target: str) -> str:
    """One MERGE: the winning parents' children inserted or updated, and those parents' target
    children that the staging no longer has deleted. Source deduplicated on the child key (an
    array naming one id twice: the later element wins)."""
    keys = entity.merge_keys
    parents = [contract.parent_column(k) for k in keys]
    key = contract.key_columns(child, keys)
    columns = [f["name"] for f in entity.child_table_fields(child)]
    winning = winning_parents_sql(entity, parent_staging, parent_target)
    joined = " AND ".join(f"C.{quote(p)} = W.{quote(k)}" for p, k in zip(parents, keys, strict=True))
    owned = " AND ".join(f"W.{quote(k)} = T.{quote(p)}" for p, k in zip(parents, keys, strict=True))
    on = " AND ".join(f"T.{quote(c)} = S.{quote(c)}" for c in key)
    updates = ", ".join(f"{quote(c)} = S.{quote(c)}" for c in columns if c not in key)
    return (
        f"MERGE {quote(target)} T\n"
        f"USING (SELECT {', '.join(f'C.{quote(c)}' for c in columns)}\n"
        f"  FROM {quote(staging)} C JOIN ({winning}) W ON {joined} AND C._seq = W._seq\n"
        f"  WHERE NOT W._gone\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {', '.join(f'C.{quote(c)}' for c in key)} "
        f"ORDER BY C.{contract.POSITION} DESC) = 1) S\n"
        f"ON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(map(quote, columns))})\n"
        f"  VALUES ({', '.join(f'S.{quote(c)}' for c in columns)})\n"
        f"WHEN NOT MATCHED BY SOURCE AND EXISTS (SELECT 1 FROM ({winning}) W WHERE {owned}) THEN DELETE"
    )


def remove_orphan_children(entity: EntityConfig, settings: Settings, before: datetime) -> int:
    """Delete child rows whose parent is gone (a complete snapshot's hard delete), written before
    `before` (a run since may be between its children's MERGE and its parent's). Repeating it
    after a crash is harmless."""
    removed = 0
    match = " AND ".join(f"P.{quote(k)} = T.{quote(contract.parent_column(k))}" for k in entity.merge_keys)
    parent = target_table_id(entity, settings)
    for child in entity.children:
        sql = (f"DELETE FROM {quote(child_table_id(entity, settings, child))} T "
               f"WHERE NOT EXISTS (SELECT 1 FROM {quote(parent)} P WHERE {match}) "
               f"AND (T._extracted_at IS NULL OR T._extracted_at < @before)")
        removed += int(bq_helper.query(sql, {"before": ("TIMESTAMP", before)}).num_dml_affected_rows or 0)
    if removed:
        log.info("%d child row(s) of deleted parents removed", removed)
    return removed
