"""The run ledger: one row per attempt of a sync in `<meta_dataset>.runs`, written with a DML
INSERT whose values are all query parameters."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestion.contract.redact import redact_values
from ingestion.contract.sections import PartitionSpec
from ingestion.contract.settings import Settings
from ingestion.warehouse.tables import TableSpec, ensure_table
from utils import bq_helper

RUNS_TABLE = "runs"
RUN_FIELDS = [
    {"name": "run_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "message_id", "type": "STRING"},
    {"name": "attempt", "type": "INT64"},
    {"name": "job_id", "type": "STRING",
     "description": "The job this run worked on (shared by a message's redeliveries, "
                    "continuations and parallel parts)."},
    {"name": "entity", "type": "STRING", "mode": "REQUIRED"},
    {"name": "item", "type": "STRING", "description": "The fan-out item, when the message named one."},
    {"name": "sync_mode", "type": "STRING"},
    {"name": "window_start", "type": "TIMESTAMP"},
    {"name": "window_end", "type": "TIMESTAMP"},
    {"name": "pages", "type": "INT64"},
    {"name": "records", "type": "INT64", "description": "Records staged for loading."},
    {"name": "rejected", "type": "INT64",
     "description": "Records that could not be loaded (see gs://<bucket>/rejects/<entity>/<run_id>/)."},
    {"name": "filtered", "type": "INT64",
     "description": "Records read but not loaded on purpose: left out by records.filters, or their "
                    "cursor lies outside the run's window (incremental.client_filter)."},
    {"name": "rows_merged", "type": "INT64"},
    {"name": "rows_deleted", "type": "INT64",
     "description": "historical_full: rows removed or flagged because the snapshot no longer had them."},
    {"name": "unknown_fields", "type": "STRING",
     "description": "Top-level record fields no column reads (schema drift), comma-separated."},
    {"name": "added_columns", "type": "STRING",
     "description": "Columns this run added to the target table for new record fields "
                    "(schema.on_new_field add_column), `name TYPE`, comma-separated."},
    {"name": "bytes", "type": "INT64"},
    {"name": "watermark", "type": "TIMESTAMP"},
    {"name": "watermark_value", "type": "STRING",
     "description": "The watermark of an integer or string cursor (incremental.cursor_type)."},
    {"name": "status", "type": "STRING", "mode": "REQUIRED",
     "description": "succeeded | failed | skipped (already done, or deferred: see error_message) | "
                    "continued (the rest of the job was published as another message)"},
    {"name": "error_class", "type": "STRING"},
    {"name": "error_message", "type": "STRING"},
    {"name": "started_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "finished_at", "type": "TIMESTAMP"},
]
_TYPES = {f["name"]: f["type"] for f in RUN_FIELDS}


@dataclass
class RunRow:
    run_id: str
    entity: str
    sync_mode: str | None
    message_id: str | None = None
    attempt: int | None = None
    job_id: str | None = None
    item: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    pages: int = 0
    records: int = 0
    rejected: int = 0
    filtered: int = 0
    rows_merged: int = 0
    rows_deleted: int = 0
    unknown_fields: str | None = None
    added_columns: str | None = None
    bytes: int = 0
    watermark: datetime | None = None
    watermark_value: str | None = None
    status: str = "running"
    error_class: str | None = None
    error_message: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


    def note_watermark(self, watermark: Any) -> None:
        """Keep the newest watermark a step committed: a time, or an integer/string position."""
        if isinstance(watermark, datetime):
            self.watermark = max(self.watermark or watermark, watermark)
        else:  # steps commit in order, and a watermark never moves back
            self.watermark_value = str(watermark)


def runs_table_id(settings: Settings) -> str:
    return f"{settings.project}.{settings.meta_dataset}.{RUNS_TABLE}"


@functools.cache
def _ensure_runs_table(settings: Settings) -> str:
    """Create the ledger, or add the columns a newer release records (once per process)."""
    bq_helper.ensure_dataset(settings.project, settings.meta_dataset, settings.location)
    table_id = runs_table_id(settings)
    ensure_table(TableSpec(table_id, RUN_FIELDS, "One row per sync attempt (see docs/operations.md)",
                           PartitionSpec(field="started_at", granularity="DAY", immutable=False),
                           ("entity", "status"), "the run ledger's schema"))
    return table_id


def append_run(row: RunRow, settings: Settings) -> None:
    table_id = _ensure_runs_table(settings)
    values = redact_values(asdict(row))  # error messages may quote what an API echoed
    names = list(values)
    sql = (f"INSERT INTO `{table_id}` ({', '.join(names)}) "
           f"VALUES ({', '.join('@' + n for n in names)})")
    bq_helper.query(sql, {n: (_TYPES[n], values[n]) for n in names})
