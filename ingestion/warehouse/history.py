"""`target.write: "history"`: slowly changing dimension type 2 — every version of a record is kept.

A row is one version of a record: `_valid_from` (the record's cursor, else `_extracted_at`),
`_valid_to` (NULL while current), `_is_current`, and `_hash` (the content's digest, computed when
the rows are built: ingestion/rows/build.py). The table's key is the merge keys plus `_valid_from`.

Each step recomputes the whole version chain of just the keys it staged, from three kinds of
event: the stored versions, the staged versions and the deletions (staged `_delete` rows: a
flagged record at its cursor, a tombstone at its `_deleted_at`; deletions applied earlier are the
`_valid_to`s at which no stored version starts). Ordered by time, a version whose content equals
the version just before it is no change and is dropped; each remaining version is valid until the
next event. One MERGE on (keys, `_valid_from`) then inserts the new versions, corrects the
`_valid_to`/`_is_current` that changed and deletes the versions the chain no longer has. So a step
is one atomic statement, and applying the same staging again finds nothing to change: a crash
between the load and the MERGE, or a redelivery, cannot add a version twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ingestion.contract.config import HASH_COLUMN, HISTORY_COLUMNS, EntityConfig
from ingestion.contract.settings import Settings
from ingestion.model import Job, Staging
from ingestion.warehouse.snapshot import absent_rows_filter, forget_keys
from ingestion.warehouse.writes import WriteMode, is_deleted, is_tombstone, quote
from utils import bq_helper

log = logging.getLogger("ingestion.warehouse.history")

HISTORY_NAMES = frozenset(c["name"] for c in HISTORY_COLUMNS)
TIME_CURSORS = {"TIMESTAMP": "{}", "DATETIME": "TIMESTAMP({})", "DATE": "TIMESTAMP({})"}


@dataclass(frozen=True)
class Chain:
    """What the history MERGE needs to know about an entity."""

    keys: tuple[str, ...]
    columns: tuple[str, ...]  # the row's columns (entity + loader metadata), history columns excluded
    valid_from: str  # SQL over a staging row: when its version starts

    @classmethod
    def of(cls, entity: EntityConfig) -> Chain:
        types = {f["name"]: f["type"].upper() for f in entity.fields}
        columns = tuple(f["name"] for f in entity.table_fields if f["name"] not in HISTORY_NAMES)
        cursor = entity.cursor_field
        return cls(entity.merge_keys, columns, valid_from_sql(cursor, types.get(cursor or "")))

    def on(self, left: str, right: str) -> str:
        return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in self.keys)

    def cols(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(f"{prefix}{quote(c)}" for c in self.columns)


def valid_from_sql(cursor: str | None, cursor_type: str | None) -> str:
    """A staged version starts at its cursor when that is a time, else when it was extracted."""
    if cursor and cursor_type in TIME_CURSORS:
        return TIME_CURSORS[cursor_type].format(quote(cursor))
    return "_extracted_at"


def history_merge_sql(chain: Chain, target_id: str, staging: Staging) -> str:
    """The one MERGE of a step (see the module docstring). Every CTE is limited to the staged keys;
    at one instant a deletion wins over a version (as a tombstone does in the staging dedup)."""
    c, on, keys = chain, chain.on, ", ".join(map(quote, chain.keys))
    deleted_at = f"IF({is_tombstone('')}, COALESCE(_deleted_at, _extracted_at), {c.valid_from})"
    by_key = f"PARTITION BY {keys} ORDER BY __at, __kind"
    updates = ", ".join(f"{quote(col)} = S.{quote(col)}"
                        for col in (*c.columns, "_hash") if col not in c.keys)
    inserted = ", ".join(map(quote, (*c.columns, "_hash", "_valid_from", "_valid_to", "_is_current")))
    return f"""MERGE {quote(target_id)} T
USING (
  WITH staged AS (
    SELECT {c.cols()}, _hash, _seq, {c.valid_from} AS __from, {is_deleted('')} AS __delete,
           {deleted_at} AS __deleted_at
    FROM {staging.relation}
  ),
  staged_keys AS (SELECT DISTINCT {keys} FROM staged),
  existing AS (
    SELECT {c.cols('E')}, E._hash, E._valid_from, E._valid_to
    FROM {quote(target_id)} E JOIN staged_keys K ON {on('E', 'K')}
  ),
  incoming AS (
    SELECT * FROM staged WHERE NOT __delete AND __from IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys}, __from ORDER BY _seq DESC) = 1
  ),
  candidates AS (
    SELECT * FROM (
      SELECT {c.cols()}, _hash, _valid_from AS __from, FALSE AS __staged FROM existing
      UNION ALL
      SELECT {c.cols('I')}, I._hash, I.__from, TRUE FROM incoming I
      WHERE NOT EXISTS (SELECT 1 FROM existing E
                        WHERE {on('E', 'I')} AND E._valid_from = I.__from AND E._hash = I._hash)
    ) WHERE TRUE
    QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys}, __from ORDER BY __staged DESC) = 1
  ),
  deletions AS (
    SELECT DISTINCT {keys}, __at FROM (
      SELECT {keys}, __deleted_at AS __at FROM staged WHERE __delete AND __deleted_at IS NOT NULL
      UNION ALL
      SELECT {keys}, _valid_to FROM existing E
      WHERE _valid_to IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM existing X WHERE {on('X', 'E')} AND X._valid_from = E._valid_to)
    )
  ),
  events AS (
    SELECT {keys}, __from AS __at, 0 AS __kind, _hash AS __hash FROM candidates C
    WHERE NOT EXISTS (SELECT 1 FROM deletions D WHERE {on('D', 'C')} AND D.__at = C.__from)
    UNION ALL
    SELECT {keys}, __at, 1 AS __kind, CAST(NULL AS STRING) AS __hash FROM deletions
  ),
  changes AS (
    SELECT * FROM events WHERE TRUE
    QUALIFY __kind = 1 OR COALESCE(LAG(__kind) OVER ({by_key}), 1) = 1
         OR LAG(__hash) OVER ({by_key}) IS DISTINCT FROM __hash
  ),
  chain AS (
    SELECT * FROM (SELECT {keys}, __at, __kind, LEAD(__at) OVER ({by_key}) AS __to FROM changes)
    WHERE __kind = 0
  )
  SELECT {c.cols('C')}, C._hash, C.__from, H.__to, C.__staged, FALSE AS __drop
  FROM chain H JOIN candidates C ON {on('C', 'H')} AND C.__from = H.__at
  UNION ALL
  SELECT {c.cols('E')}, E._hash, E._valid_from, NULL, FALSE, TRUE FROM existing E
  WHERE NOT EXISTS (SELECT 1 FROM chain H WHERE {on('H', 'E')} AND H.__at = E._valid_from)
) S
ON {on('T', 'S')} AND T._valid_from = S.__from
WHEN MATCHED AND S.__drop THEN DELETE
WHEN MATCHED AND S.__staged THEN UPDATE SET {updates}, _valid_to = S.__to, _is_current = S.__to IS NULL
WHEN MATCHED AND T._valid_to IS DISTINCT FROM S.__to THEN
  UPDATE SET _valid_to = S.__to, _is_current = S.__to IS NULL
WHEN NOT MATCHED AND NOT S.__drop THEN INSERT ({inserted})
  VALUES ({c.cols('S')}, S._hash, S.__from, S.__to, S.__to IS NULL)"""


class HistoryWrite(WriteMode):
    """`target.write: "history"` (see the module docstring). A complete historical_full snapshot's
    `finish` closes, at the finish time, the current version of every key it no longer has (under
    the same safety rules as `full_refresh.absent_rows`: never after an empty snapshot or one with
    rejected records, never a version written after the job was planned)."""

    type = "history"

    def table_fields(self, entity: EntityConfig) -> list[dict]:
        return HISTORY_COLUMNS

    def staged_fields(self, entity: EntityConfig) -> list[dict]:
        return [HASH_COLUMN]  # each version's digest, taken when its row is built (rows/build.py)

    def apply(self, entity: EntityConfig, settings: Settings, target_id: str, staging: Staging,
              job: Job | None) -> int:
        sql = history_merge_sql(Chain.of(entity), target_id, staging)
        return int(bq_helper.query(sql).num_dml_affected_rows or 0)

    def finish(self, entity: EntityConfig, settings: Settings, target_id: str, job: Job,
               now: datetime) -> int:
        absent = absent_rows_filter(entity, settings, job) if job.mode == "historical_full" else None
        if absent is None:
            return 0
        where, params = absent
        sql = (f"UPDATE {quote(target_id)} T SET _valid_to = @now, _is_current = FALSE\n"
               f"WHERE T._valid_to IS NULL AND T._valid_from < @now AND {where}")
        closed = int(bq_helper.query(sql, {**params, "now": ("TIMESTAMP", now)}).num_dml_affected_rows or 0)
        forget_keys(entity, settings, job)
        log.info("snapshot complete: the current version of %d absent record(s) closed", closed)
        return closed
