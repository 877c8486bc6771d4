"""historical_full: rows the API no longer returns are deleted (or flagged) once the whole snapshot
is in.

Every committed step of a full job adds the merge keys it loaded to a keys table of the job
(`_keys_<table>_<job>`, expiring). When the job's last slice is done, target rows whose key is not
in it are deleted, or flagged with `_deleted`/`_deleted_at` — but only rows last written before the
job was planned (a concurrent incremental run may have added newer ones), only for the job's item
when the message named one, and never when the snapshot is empty or had rejected records (a row
whose new version was rejected would look absent).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from ingestion.contract.config import EntityConfig
from ingestion.contract.settings import Settings
from ingestion.model import Job, Staging
from utils import bq_helper

log = logging.getLogger("ingestion.warehouse.snapshot")
KEYS_TTL = timedelta(days=7)


def _q(*parts: str) -> str:
    return "`" + ".".join(parts) + "`"


def keys_table_id(entity: EntityConfig, settings: Settings, job_id: str) -> str:
    suffix = job_id.replace("-", "_")
    return f"{settings.project}.{entity.target.dataset}._keys_{entity.target.table}_{suffix}"


def remember_keys(entity: EntityConfig, settings: Settings, job: Job, staging: Staging) -> None:
    """Add the keys of a merged step to the job's keys table. A redone step adds them twice,
    which changes nothing."""
    keys_id = keys_table_id(entity, settings, job.job_id)
    fields = [f for f in entity.fields if f["name"] in entity.merge_keys]
    bq_helper.create_table(keys_id, bq_helper.schema_from_json(fields),
                           expires=datetime.now(UTC) + KEYS_TTL,
                           description=f"Keys seen by historical_full job {job.job_id} of {entity.name}")
    columns = ", ".join(_q(k) for k in entity.merge_keys)
    bq_helper.query(f"INSERT INTO {_q(keys_id)} ({columns})\n"
                    f"SELECT DISTINCT {columns} FROM {staging.relation}")


def absent_rows_filter(entity: EntityConfig, settings: Settings, job: Job) -> tuple[str, dict] | None:
    """The condition on target rows `T` a complete snapshot no longer has (their key is not in the
    job's keys table, they were last written before the job was planned, and they belong to the
    job's item), with its query parameters; None when no row may be treated as gone:
    `absent_rows: keep`, rejected records, or an empty snapshot."""
    keys_id = keys_table_id(entity, settings, job.job_id)
    if entity.absent_rows == "keep":
        return None
    if job.rejected:
        log.warning("the snapshot had %d rejected record(s): no row is treated as deleted",
                    job.rejected)
        return None
    if bq_helper.get_table(keys_id) is None:
        log.warning("the snapshot is empty: no row is treated as deleted (an API answering with "
                    "no data would otherwise empty the table)")
        return None
    match = " AND ".join(f"K.{_q(k)} = T.{_q(k)}" for k in entity.merge_keys)
    where = (f"NOT EXISTS (SELECT 1 FROM {_q(keys_id)} K WHERE {match})"
             " AND (T._extracted_at IS NULL OR T._extracted_at < @planned_at)")
    params: dict = {"planned_at": ("TIMESTAMP", job.planned_at)}
    if job.item is not None:
        where += f" AND CAST(T.{_q(entity.fan_out.column)} AS STRING) = @item"
        params["item"] = ("STRING", str(job.item))
    return where, params


def forget_keys(entity: EntityConfig, settings: Settings, job: Job) -> None:
    """Drop the job's keys table once its absent rows are dealt with (a redone finish then finds
    an empty snapshot and changes nothing)."""
    bq_helper.delete_table(keys_table_id(entity, settings, job.job_id))


def remove_absent_rows(entity: EntityConfig, settings: Settings, target_id: str, job: Job,
                       now: datetime) -> int:
    """Apply `full_refresh.absent_rows` for a complete snapshot; returns the rows deleted/flagged."""
    absent = absent_rows_filter(entity, settings, job)
    if absent is None:
        return 0
    where, params = absent
    if entity.absent_rows == "soft_delete":
        params["now"] = ("TIMESTAMP", now)
        sql = (f"UPDATE {_q(target_id)} T SET _deleted = TRUE, _deleted_at = @now "
               f"WHERE {where} AND T._deleted IS NOT TRUE")
    else:
        sql = f"DELETE FROM {_q(target_id)} T WHERE {where}"
    removed = int(bq_helper.query(sql, params).num_dml_affected_rows or 0)
    forget_keys(entity, settings, job)
    log.info("snapshot complete: %d absent row(s) %s", removed,
             "flagged _deleted" if entity.absent_rows == "soft_delete" else "deleted")
    return removed
