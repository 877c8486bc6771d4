"""Load staged NDJSON into a per-run staging table and move it into the target table the way
`target.write` says (ingestion/warehouse/writes.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.settings import Settings
from ingestion.model import Job
from ingestion.warehouse.newcolumns import with_added_columns
from ingestion.warehouse.snapshot import remember_keys
from ingestion.warehouse.tables import TableSpec, ensure_table
from ingestion.warehouse.writes import staging_fields, write_mode
from utils import bq_helper

STAGING_TTL = timedelta(days=1)


def target_table_id(entity: EntityConfig, settings: Settings) -> str:
    return f"{settings.project}.{entity.target.dataset}.{entity.target.table}"


def staging_table_id(entity: EntityConfig, settings: Settings, run_id: str) -> str:
    return f"{settings.project}.{entity.target.dataset}._stg_{entity.target.table}_{run_id}"


def ensure_target_table(entity: EntityConfig, settings: Settings) -> str:
    """Create the dataset and target table from the schema JSON, or evolve the table to it."""
    bq_helper.ensure_dataset(settings.project, entity.target.dataset, settings.location)
    table_id = target_table_id(entity, settings)
    entity = with_added_columns(entity, table_id)  # schema.on_new_field add_column: not "kept" ones
    fields = [*entity.table_fields, *write_mode(entity).table_fields(entity)]
    ensure_table(TableSpec(table_id, fields, entity.table_description,
                           entity.target.partition, entity.target.cluster_by,
                           schema_file=f"schema/{entity.name}.json"))
    return table_id


def load_staging(entity: EntityConfig, settings: Settings, run_id: str, uri: str) -> str:
    """Load job (never streaming) from the NDJSON objects into a fresh, expiring staging table."""
    table_id = staging_table_id(entity, settings, run_id)
    schema = bq_helper.schema_from_json(staging_fields(entity))
    bq_helper.create_table(table_id, schema, expires=datetime.now(UTC) + STAGING_TTL,
                           description=f"Staging for run {run_id} of {entity.name}")
    bq_helper.load_ndjson_from_gcs([uri], table_id, schema, truncate=True)
    return table_id


def _q(*parts: str) -> str:
    """Backtick-quote an identifier path. Every part was validated against the identifier patterns
    of the config/BQ-schema JSON Schemas before it gets here."""
    return "`" + ".".join(parts) + "`"


def merge_into_target(entity: EntityConfig, settings: Settings, target_id: str, staging_id: str,
                      job: Job | None) -> int:
    """Move a step's staging into the target as `target.write` says (one statement; applying the
    same staging twice changes nothing); a historical_full step also records its keys for the
    job's `finish`. Returns the target rows the statement affected."""
    mode = write_mode(entity)
    affected = mode.apply(entity, settings, target_id, staging_id, job)
    if job is not None and job.mode == "historical_full" and mode.snapshot_keys:
        remember_keys(entity, settings, job, staging_id)
    return affected


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
