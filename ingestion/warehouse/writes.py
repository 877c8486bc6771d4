"""`target.write`: how a step's staging table moves into the target table. One class per mode,
registered by its `type` in WRITE_MODES (the schema's enum and docs/config.md's table list the
same names); `write_mode(entity)` gives the entity's.

The interface (`WriteMode`), which every mode keeps:

- `table_fields(entity)`: the columns the mode adds to the target table after
  `entity.table_fields` (history: `_valid_from`…); the staging table has only those that
  `staged_fields(entity)` lists (history: `_hash`, computed when the rows are built).
- `apply(entity, settings, target_id, staging, job)`: move one step's staging into the target
  in ONE statement and return the rows it affected. Exactly once: applying the same staging again
  (a crash after the MERGE, a redelivered message, a redone step) must change nothing. `job` is None
  for a replay.
- `finish(entity, settings, target_id, job, now)`: once per `historical_full` job, when its last
  slice is done (whoever did it; repeated after a crash, so it must be idempotent); returns the
  rows deleted or closed. The default applies `full_refresh.absent_rows` to the complete snapshot.
- `snapshot_keys`: whether a `historical_full` step also records its keys for `finish`
  (ingestion/warehouse/snapshot.py `remember_keys`).

The staging table (`staging_fields`) is the target's `entity.table_fields` plus staging-only
columns: `_seq` (order in the run: the later row wins on equal cursors), `_delete` (TRUE: the row
deletes its key — a record matching `deletes.when`, or a tombstone), `_tombstone` (TRUE: a row of
the `deletes.endpoint`; it has the key columns, the fan-out column, the loader's metadata columns
and `_deleted_at`, every other column NULL, its cursor NULL) and `_deleted_at` (when the key was
deleted: a tombstone's `deleted_at_field`, else its `_extracted_at`; a flagged record's cursor when
that is a TIMESTAMP, else its `_extracted_at`). Tombstones never count for the watermark (their
cursor is NULL). Test them with `is_deleted(alias)` / `is_tombstone(alias)`; `latest_per_key`
deduplicates a staging table the way merge, append and replace do (a key with a tombstone in the
step is deleted: its newest flagged version if any, else the tombstone; otherwise the newest
cursor, then the later row of the run).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ingestion.contract.config import EntityConfig
from ingestion.contract.errors import PermanentError
from ingestion.contract.registry import Registry
from ingestion.contract.settings import Settings
from ingestion.model import Job, Staging
from ingestion.warehouse.snapshot import remove_absent_rows
from utils import bq_helper

log = logging.getLogger("ingestion.warehouse.writes")

SEQ_COLUMN = {"name": "_seq", "type": "INT64", "mode": "NULLABLE",
              "description": "Order of the record within the run (later wins on equal cursor)."}
DELETE_COLUMN = {"name": "_delete", "type": "BOOL", "mode": "NULLABLE",
                 "description": "The row deletes its key (deletes.when, or a tombstone)."}
TOMBSTONE_COLUMN = {"name": "_tombstone", "type": "BOOL", "mode": "NULLABLE",
                    "description": "A row of deletes.endpoint: only its key and _deleted_at are known."}
DELETED_AT_COLUMN = {"name": "_deleted_at", "type": "TIMESTAMP", "mode": "NULLABLE",
                     "description": "When the key was deleted."}
STAGING_COLUMNS = [SEQ_COLUMN, DELETE_COLUMN, TOMBSTONE_COLUMN, DELETED_AT_COLUMN]
SHADOW_TTL = timedelta(days=7)

WRITE_MODES = Registry("write mode")


def quote(*parts: str) -> str:
    """Backtick-quote an identifier path (every part was validated by the JSON Schemas)."""
    return "`" + ".".join(parts) + "`"


def staging_fields(entity: EntityConfig) -> list[dict]:
    """The staging table's schema: the target's columns, those the write mode stages
    (`staged_fields`), and the staging-only ones."""
    fields = [*entity.table_fields, *write_mode(entity).staged_fields(entity)]
    have = {f["name"] for f in fields}
    return [*fields, *(c for c in STAGING_COLUMNS if c["name"] not in have)]


def is_deleted(alias: str = "S") -> str:
    """SQL: the staged row deletes its key (a flagged record or a tombstone)."""
    return f"{alias}{'.' if alias else ''}_delete IS TRUE"


def is_tombstone(alias: str = "S") -> str:
    """SQL: the staged row is a tombstone (key columns and `_deleted_at` only)."""
    return f"{alias}{'.' if alias else ''}_tombstone IS TRUE"


def latest_per_key(entity: EntityConfig, staging: Staging, where: str = "TRUE") -> str:
    """SQL: the staged rows (matching `where`), one per merge key: the newest cursor, then the later
    row of the run. With `deletes.endpoint`, a key with a tombstone in the step is deleted: its
    newest flagged version is kept if it has one (it carries the record's values), else the
    tombstone, and the row says so in `__tombstoned`. (BigQuery raises on a MERGE source with two
    rows for one key; the emulator does not, so this is what keeps both right.)"""
    keys = ", ".join(map(quote, entity.merge_keys))
    cursor = entity.cursor_field
    newest = [*([f"{quote(cursor)} DESC"] if cursor else []), "_seq DESC"]
    if not tombstones(entity):
        return (f"SELECT * FROM {staging.relation} WHERE {where}\n"
                f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {', '.join(newest)}) = 1")
    order = ", ".join(["IF(__tombstoned, _delete IS TRUE, TRUE) DESC", f"({is_tombstone('')})", *newest])
    return (f"SELECT * FROM (\n"
            f"  SELECT *, LOGICAL_OR({is_tombstone('')}) OVER (PARTITION BY {keys}) AS __tombstoned\n"
            f"  FROM {staging.relation} WHERE {where})\n"
            f"WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {order}) = 1")


def tombstones(entity: EntityConfig) -> bool:
    """The entity reads tombstones (`deletes.endpoint`)."""
    return bool(entity.deletes and entity.deletes.endpoint)


def partition_range(entity: EntityConfig, staging: Staging) -> dict:
    """The lowest and highest partition value among the staged rows, as typed query parameters:
    constants, so the MERGE's filter on the target prunes partitions."""
    part = entity.immutable_partition
    kind = next(f["type"] for f in entity.fields if f["name"] == part)
    row = next(iter(bq_helper.query(
        f"SELECT MIN({quote(part)}) AS lo, MAX({quote(part)}) AS hi FROM {staging.relation}").result()))
    return {"partition_lo": (kind, row.lo), "partition_hi": (kind, row.hi)}


def match_on(entity: EntityConfig, pruned: bool = True) -> str:
    """The MERGE's ON: the keys, and with an immutable partition column the row's own partition
    within the step's partition range (`@partition_lo`/`@partition_hi`), so BigQuery prunes."""
    on = " AND ".join(f"T.{quote(k)} = S.{quote(k)}" for k in entity.merge_keys)
    if pruned and (part := entity.immutable_partition):
        on += (f" AND T.{quote(part)} = S.{quote(part)}"
               f" AND T.{quote(part)} BETWEEN @partition_lo AND @partition_hi")
    return on


def insert_clause(columns: list[str]) -> str:
    return (f"INSERT ({', '.join(map(quote, columns))})\n"
            f"  VALUES ({', '.join(f'S.{quote(c)}' for c in columns)})")


class WriteMode:
    """One `target.write` mode (see the module docstring for the contract)."""

    type: ClassVar[str]
    snapshot_keys: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        WRITE_MODES.add(cls)

    def table_fields(self, entity: EntityConfig) -> list[dict]:
        return []

    def staged_fields(self, entity: EntityConfig) -> list[dict]:
        """Columns of `table_fields` the rows already carry when staged (history: `_hash`)."""
        return []

    def apply(self, entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
              job: Job | None) -> int:
        raise NotImplementedError

    def finish(self, entity: EntityConfig, settings: Settings, target_id: str, job: Job,
               now: datetime) -> int:
        if job.mode != "historical_full":
            return 0
        return remove_absent_rows(entity, settings, target_id, job, now)

    def run(self, entity: EntityConfig, sql: str, staging: Staging) -> int:
        """Run a step's statement (with the partition range when the MERGE is pruned)."""
        params = partition_range(entity, staging) if entity.immutable_partition else None
        return int(bq_helper.query(sql, params).num_dml_affected_rows or 0)


class MergeWrite(WriteMode):
    """Upsert on the merge keys; an incoming row never overwrites a target row with a newer cursor.
    With `deletes`, a flagged record or a tombstone deletes its key (`hard_delete`), or flags it
    `_deleted`/`_deleted_at` (`soft_delete`); a deleted key is never inserted, a flagged record is
    inserted flagged."""

    type = "merge"

    def apply(self, entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
              job: Job | None) -> int:
        return self.run(entity, self.sql(entity, target_id, staging), staging)

    def sql(self, entity: EntityConfig, target_id: str, staging: Staging) -> str:
        keys, cursor, deletes = entity.merge_keys, entity.cursor_field, entity.deletes
        columns = [f["name"] for f in entity.table_fields]
        newer = (f"(T.{quote(cursor)} IS NULL OR S.{quote(cursor)} >= T.{quote(cursor)})"
                 if cursor else "TRUE")
        updates = ", ".join(f"{quote(c)} = S.{quote(c)}" for c in columns if c not in keys)
        gone = "S.__tombstoned" if tombstones(entity) else "FALSE"  # a tombstone deletes whatever the cursor
        update = f"WHEN MATCHED AND NOT ({is_tombstone()}) AND {newer} THEN UPDATE SET {updates}"
        if deletes is None:
            clauses = [update, f"WHEN NOT MATCHED THEN {insert_clause(columns)}"]
        elif deletes.mode == "soft_delete":  # a flagged record is a version like any other
            clauses = [update,
                       f"WHEN MATCHED AND {gone} THEN UPDATE SET _deleted = TRUE, "
                       "_deleted_at = COALESCE(T._deleted_at, S._deleted_at)",
                       f"WHEN NOT MATCHED AND NOT ({is_tombstone()}) THEN {insert_clause(columns)}"]
        else:
            clauses = [f"WHEN MATCHED AND {is_deleted()} AND ({gone} OR {newer}) THEN DELETE", update,
                       f"WHEN NOT MATCHED AND NOT ({is_deleted()}) THEN {insert_clause(columns)}"]
        return (f"MERGE {quote(target_id)} T\n"
                f"USING ({latest_per_key(entity, staging)}) S\n"
                f"ON {match_on(entity)}\n" + "\n".join(clauses))


class AppendWrite(WriteMode):
    """Insert-only, for events that never change: a row whose merge keys are already in the
    target is never inserted again (a redelivered message, a redone step, a duplicate), so the
    MERGE has only `WHEN NOT MATCHED THEN INSERT`. It never updates and never deletes
    (`full_refresh.absent_rows` does not apply)."""

    type = "append"
    snapshot_keys = False

    def apply(self, entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
              job: Job | None) -> int:
        return self.run(entity, self.sql(entity, target_id, staging), staging)

    def sql(self, entity: EntityConfig, target_id: str, staging: Staging) -> str:
        columns = [f["name"] for f in entity.table_fields]
        return (f"MERGE {quote(target_id)} T\n"
                f"USING ({latest_per_key(entity, staging)}) S\n"
                f"ON {match_on(entity)}\n"
                f"WHEN NOT MATCHED THEN {insert_clause(columns)}")

    def finish(self, entity: EntityConfig, settings: Settings, target_id: str, job: Job,
               now: datetime) -> int:
        return 0


class ReplaceWrite(WriteMode):
    """A complete `historical_full` snapshot replaces the table's content. Its steps are merged
    into a shadow table of the job (`_replace_<table>_<job>`, expiring); `finish` moves the shadow
    into the target with ONE MERGE (update matched, insert new, delete — or flag with
    `full_refresh.absent_rows: soft_delete` — rows not in the shadow), so readers see the old
    content or the new one, never a mix, and a failed job (never finished) leaves the old content.
    With an item in the message, only that item's rows are replaced. Only historical_full messages
    are accepted (ingestion/planning/plan.py)."""

    type = "replace"
    snapshot_keys = False

    @staticmethod
    def shadow_id(entity: EntityConfig, settings: Settings, job: Job) -> str:
        suffix = job.job_id.replace("-", "_")
        return f"{settings.project}.{entity.target.dataset}._replace_{entity.target.table}_{suffix}"

    def apply(self, entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
              job: Job | None) -> int:
        if job is None or job.mode != "historical_full":
            raise PermanentError(f"{entity.name} is written with target.write replace: only historical_full")
        shadow = self.shadow_id(entity, settings, job)
        fields = entity.table_fields  # the shadow is the target's content-to-be: the same columns
        bq_helper.create_table(shadow, bq_helper.schema_from_json(fields),
                               expires=datetime.now(UTC) + SHADOW_TTL,
                               description=f"Content of {target_id} being built by job {job.job_id}")
        return MergeWrite().apply(entity, settings, shadow, staging, job)

    def finish(self, entity: EntityConfig, settings: Settings, target_id: str, job: Job,
               now: datetime) -> int:
        shadow = self.shadow_id(entity, settings, job)
        if bq_helper.get_table(shadow) is None:
            log.warning("the snapshot is empty (or was already swapped in): %s keeps its content "
                        "(an API answering with no data would otherwise empty the table)", target_id)
            return 0
        if job.rejected:
            log.warning("the snapshot had %d rejected record(s): those keys are not in the new "
                        "content", job.rejected)
        scope, params = "TRUE", {}
        if job.item is not None:  # the message named one item: only its rows are replaced
            scope = f"CAST(T.{quote(entity.fan_out.column)} AS STRING) = @item"
            params = {"item": ("STRING", str(job.item))}
        soft = entity.absent_rows == "soft_delete"
        absent = f"{scope} AND T._deleted IS NOT TRUE" if soft else scope
        match = " AND ".join(f"S.{quote(k)} = T.{quote(k)}" for k in entity.merge_keys)
        removed = next(iter(bq_helper.query(
            f"SELECT COUNT(*) AS n FROM {quote(target_id)} T WHERE {absent} AND NOT EXISTS "
            f"(SELECT 1 FROM {quote(shadow)} S WHERE {match})", params or None).result())).n
        columns = [f["name"] for f in entity.table_fields]
        updates = ", ".join(f"{quote(c)} = S.{quote(c)}" for c in columns if c not in entity.merge_keys)
        gone = (f"WHEN NOT MATCHED BY SOURCE AND {absent} THEN "
                + ("UPDATE SET _deleted = TRUE, _deleted_at = @now" if soft else "DELETE"))
        swap = (f"MERGE {quote(target_id)} T\nUSING {quote(shadow)} S\nON {match_on(entity, pruned=False)}\n"
                f"WHEN MATCHED THEN UPDATE SET {updates}\n"
                f"WHEN NOT MATCHED THEN {insert_clause(columns)}\n{gone}")
        bq_helper.query(swap, {**params, **({"now": ("TIMESTAMP", now)} if soft else {})} or None)
        bq_helper.delete_table(shadow)
        log.info("snapshot swapped into %s: %d row(s) no longer there %s", target_id, removed,
                 "flagged _deleted" if soft else "deleted")
        return int(removed)


def write_mode(entity: EntityConfig) -> WriteMode:
    """The entity's `target.write` mode."""
    from ingestion.warehouse import history  # noqa: F401 - registers `history` (it subclasses WriteMode)

    return WRITE_MODES[entity.target.write]()
