"""Load staged NDJSON into a per-run staging table and move it into the target table the way
`target.write` says (ingestion/warehouse/writes.py)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from ingestion.contract.config import EntityConfig
from ingestion.contract.settings import Settings
from ingestion.model import Job, Staging
from ingestion.warehouse.newcolumns import with_added_columns
from ingestion.warehouse.snapshot import remember_keys
from ingestion.warehouse.tables import TableSpec, ensure_table
from ingestion.warehouse.writes import staging_fields, write_mode
from utils import bq_helper
from utils.parallel import map_in_threads

STAGING_TTL = timedelta(days=1)


def target_table_id(entity: EntityConfig, settings: Settings) -> str:
    return f"{settings.project}.{entity.target.dataset}.{entity.target.table}"


def staging_table_id(entity: EntityConfig, settings: Settings, run_id: str, chunk: int | None = None) -> str:
    table = f"{settings.project}.{entity.target.dataset}._stg_{entity.target.table}_{run_id}"
    return table if chunk is None else f"{table}_c{chunk:03d}"


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


def load_staging(entity: EntityConfig, settings: Settings, run_id: str, uris: str | list[str],
                 chunk: int | None = None) -> Staging:
    """Load job (never streaming) from the NDJSON objects into a fresh, expiring staging table (or
    chunk `chunk` of one), replacing what it held: a load retried never doubles its rows."""
    table_id = staging_table_id(entity, settings, run_id, chunk)
    schema = bq_helper.schema_from_json(staging_fields(entity))
    bq_helper.create_table(table_id, schema, expires=datetime.now(UTC) + STAGING_TTL,
                           description=f"Staging for run {run_id} of {entity.name}")
    bq_helper.load_ndjson_from_gcs([uris] if isinstance(uris, str) else uris, table_id, schema, truncate=True)
    return Staging((table_id,))


EARLY_LOAD_BYTES = 4 * 2**20  # one NDJSON part (ingestion/rows/stage.py PART_BYTES)
CHUNK_GROWTH = 8  # a chunk holds at least 1/CHUNK_GROWTH of what is loaded before it


class EarlyLoads:
    """Load while extracting: a step's NDJSON parts go into staging while later pages are still
    being fetched, so the step's tail is the load of the parts fetched since the last job began,
    not the whole step's. One job at a time, each taking every part waiting into a chunk table of
    its own (`Staging`: the MERGE reads their union): a job retried replaces its chunk, and one
    job's cost never grows with what earlier jobs loaded (the local emulator copies the whole
    table after every load: appending 4 MiB to a 40 MiB table took 0.13 s, to its own table
    0.03 s). A job starts once EARLY_LOAD_BYTES are waiting and at least an eighth
    (CHUNK_GROWTH) of what is already loaded, so the chunks grow with the step (~20 at most for
    250,000 records of ~500 B; a quarter made the tail twice as long for fewer tables): each
    job's fixed cost (seconds on BigQuery) is paid while pages are fetched, and parts that pile
    up behind a slow job are taken in one."""

    def __init__(self, entity: EntityConfig, settings: Settings, run_id: str):
        self.entity, self.settings, self.run_id = entity, settings, run_id
        self.ready: list[tuple[Future, str]] = []
        self.waiting = self.loaded = 0  # bytes of the parts in `ready`, and of those loaded
        self.more = threading.Condition()
        self.closed = False
        self.chunks: list[str] = []
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="load")
        self.worker = self.pool.submit(self._load_all)

    def add(self, upload: Future, uri: str, size: int) -> None:
        """A part of `size` bytes whose upload `upload` is under way."""
        with self.more:
            self.ready.append((upload, uri))
            self.waiting += size
            if self._due():
                self.more.notify()

    def finish(self) -> Staging | None:
        """Wait until every part added is loaded (or raise the first failure); the step's staging,
        or None when no part came (nothing was loaded)."""
        with self.more:
            self.closed = True
            self.more.notify()
        self.pool.shutdown(wait=False)
        self.worker.result()
        return Staging(tuple(self.chunks)) if self.chunks else None

    def abandon(self) -> None:
        """The step failed: load nothing more, and wait for a job under way, so that nothing
        loads into a staging table after this (a retry in this process reuses its names)."""
        with self.more:
            self.closed, self.ready = True, []
            self.more.notify()
        self.pool.shutdown(wait=True)

    def _due(self) -> bool:
        return self.waiting >= max(EARLY_LOAD_BYTES, self.loaded / CHUNK_GROWTH)

    def _load_all(self) -> None:
        while True:
            with self.more:
                while not self.closed and (not self.ready or not self._due()):
                    self.more.wait()
                batch, size, self.ready, self.waiting = self.ready, self.waiting, [], 0
            if not batch:
                return
            for upload, _ in batch:
                upload.result()
            staged = load_staging(self.entity, self.settings, self.run_id, [uri for _, uri in batch],
                                  chunk=len(self.chunks))
            self.chunks.extend(staged.tables)
            with self.more:
                self.loaded += size


def merge_into_target(entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
                      job: Job | None) -> int:
    """Move a step's staging into the target as `target.write` says (one statement; applying the
    same staging twice changes nothing); a historical_full step also records its keys for the
    job's `finish`. Returns the target rows the statement affected."""
    mode = write_mode(entity)
    affected = mode.apply(entity, settings, target_id, staging, job)
    if job is not None and job.mode == "historical_full" and mode.snapshot_keys:
        remember_keys(entity, settings, job, staging)
    return affected


def drop_staging(staging: Staging) -> None:
    map_in_threads(bq_helper.delete_table, staging.tables)  # a step's chunks at once
