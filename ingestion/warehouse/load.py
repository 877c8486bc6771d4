"""Load staged NDJSON into a per-run staging table and MERGE it into the target table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.settings import Settings
from ingestion.warehouse.tables import TableSpec, ensure_table
from utils import bq_helper

SEQ_COLUMN = {"name": "_seq", "type": "INT64", "mode": "NULLABLE",
              "description": "Order of the record within the run (later wins on equal cursor)."}
STAGING_TTL = timedelta(days=1)


def target_table_id(entity: EntityConfig, settings: Settings) -> str:
    return f"{settings.project}.{entity.target.dataset}.{entity.target.table}"


def staging_table_id(entity: EntityConfig, settings: Settings, run_id: str) -> str:
    return f"{settings.project}.{entity.target.dataset}._stg_{entity.target.table}_{run_id}"


def ensure_target_table(entity: EntityConfig, settings: Settings) -> str:
    """Create the dataset and target table from the schema JSON, or evolve the table to it."""
    bq_helper.ensure_dataset(settings.project, entity.target.dataset, settings.location)
    table_id = target_table_id(entity, settings)
    ensure_table(TableSpec(table_id, entity.table_fields, entity.table_description,
                           entity.target.partition, entity.target.cluster_by,
                           schema_file=f"schema/{entity.name}.json"))
    return table_id


def load_staging(entity: EntityConfig, settings: Settings, run_id: str, uri: str) -> str:
    """Load job (never streaming) from the NDJSON objects into a fresh, expiring staging table."""
    table_id = staging_table_id(entity, settings, run_id)
    schema = bq_helper.schema_from_json([*entity.table_fields, SEQ_COLUMN])
    bq_helper.create_table(table_id, schema, expires=datetime.now(UTC) + STAGING_TTL,
                           description=f"Staging for run {run_id} of {entity.name}")
    bq_helper.load_ndjson_from_gcs([uri], table_id, schema, truncate=True)
    return table_id


def _q(*parts: str) -> str:
    """Backtick-quote an identifier path. Every part was validated against the identifier patterns
    of the config/BQ-schema JSON Schemas before it gets here."""
    return "`" + ".".join(parts) + "`"


def merge_sql(entity: EntityConfig, target_id: str, staging_id: str) -> str:
    """MERGE: source deduplicated on the keys (latest cursor wins, then latest in the run), and an
    incoming row never overwrites a target row with a newer cursor. Explicit column lists only.
    With an immutable partition column, rows match inside their own partition and only within the
    run's partition range (`@partition_lo`/`@partition_hi`), which lets BigQuery prune the rest."""
    keys, cursor = entity.merge_keys, entity.cursor_field
    columns = [f["name"] for f in entity.table_fields]
    order = f"{_q(cursor)} DESC, _seq DESC" if cursor else "_seq DESC"
    on = " AND ".join(f"T.{_q(k)} = S.{_q(k)}" for k in keys)
    if part := entity.immutable_partition:
        on += (f" AND T.{_q(part)} = S.{_q(part)}"
               f" AND T.{_q(part)} BETWEEN @partition_lo AND @partition_hi")
    newer = f" AND (T.{_q(cursor)} IS NULL OR S.{_q(cursor)} >= T.{_q(cursor)})" if cursor else ""
    updates = ", ".join(f"{_q(c)} = S.{_q(c)}" for c in columns if c not in keys)
    return (
        f"MERGE {_q(target_id)} T\n"
        f"USING (SELECT * FROM {_q(staging_id)} WHERE TRUE\n"
        f"       QUALIFY ROW_NUMBER() OVER (PARTITION BY {', '.join(map(_q, keys))} "
        f"ORDER BY {order}) = 1) S\n"
        f"ON {on}\n"
        f"WHEN MATCHED{newer} THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(map(_q, columns))})\n"
        f"  VALUES ({', '.join(f'S.{_q(c)}' for c in columns)})"
    )


def merge_into_target(entity: EntityConfig, target_id: str, staging_id: str) -> int:
    """Run the MERGE; returns the number of target rows inserted or updated."""
    params = partition_range(entity, staging_id) if entity.immutable_partition else None
    job = bq_helper.query(merge_sql(entity, target_id, staging_id), params)
    return int(job.num_dml_affected_rows or 0)


def partition_range(entity: EntityConfig, staging_id: str) -> dict:
    """The lowest and highest partition value among the staged rows, as typed query parameters:
    constants, so the MERGE's filter on the target prunes partitions."""
    part = entity.immutable_partition
    kind = next(f["type"] for f in entity.fields if f["name"] == part)
    row = next(iter(bq_helper.query(
        f"SELECT MIN({_q(part)}) AS lo, MAX({_q(part)}) AS hi FROM {_q(staging_id)}").result()))
    return {"partition_lo": (kind, row.lo), "partition_hi": (kind, row.hi)}


def max_cursors(entity: EntityConfig, staging_id: str) -> dict[str | None, Any]:
    """The newest cursor value among the records just merged, per fan-out item (as text; the key
    is None without fan-out): the next watermarks. A time, or an integer/string position."""
    if not entity.cursor_field:
        return {}
    cursor = _q(entity.cursor_field)
    if entity.fan_out:
        item = _q(entity.fan_out.column)
        sql = f"SELECT CAST({item} AS STRING) AS item, MAX({cursor}) AS m FROM {_q(staging_id)} GROUP BY 1"
    else:
        sql = f"SELECT CAST(NULL AS STRING) AS item, MAX({cursor}) AS m FROM {_q(staging_id)}"
    position = (lambda m: m) if entity.incremental.sequence else _as_instant
    return {row.item: position(row.m) for row in bq_helper.query(sql).result() if row.m is not None}


def _as_instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def drop_staging(staging_id: str) -> None:
    bq_helper.delete_table(staging_id)
