"""Is each entity fresh? Read from the run ledger (`<meta_dataset>.runs`), the target tables and the
configs' freshness objectives (`EntityConfig.freshness_objective`); `python -m ingestion status`
prints it (ingestion/ops/status_report.py).

The same facts are a BigQuery view, `<meta_dataset>.entity_status` (`view_statement`), that the
deploy creates or replaces for dashboards. The objectives live in the configs, so the view embeds
them as a literal table generated here; the ledger part of its SQL is the very query `collect_status`
runs (`_FACTS`), so the command and the view cannot disagree on what a run row means.

States, in this order: NEVER (no successful run), LATE (the last one finished longer ago than the
objective), FAILING (a run failed after it), OK.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from google.api_core.exceptions import NotFound

from ingestion.contract.config import EntityConfig, config_files, load_entity
from ingestion.contract.envrefs import ALL_FIELDS
from ingestion.contract.settings import Settings
from ingestion.warehouse.ledger import RUN_FIELDS, runs_table_id
from utils import bq_helper

STATES = ("OK", "LATE", "NEVER", "FAILING")
VIEW = "entity_status"


@dataclass
class EntityStatus:
    entity: str
    dataset: str
    table: str
    objective: timedelta | None  # None: no schedule and no `freshness`: never LATE
    last_success: datetime | None  # finished_at of the newest succeeded run
    watermark: str | None  # timestamp (RFC 3339) or sequence value, as text
    age: timedelta | None  # now - last_success
    state: str  # one of STATES
    last_error: str | None  # error_message of the newest failed run, if newer than last_success
    rows: int | None  # rows in the target table (None: no table yet)
    runs_24h: int
    failures_24h: int

    @property
    def needs_attention(self) -> bool:
        """LATE or FAILING, or NEVER for an entity that should have run (it has an objective) or
        tried and failed: what makes `status` exit 1. An unscheduled entity never run is no alarm."""
        return self.state in ("LATE", "FAILING") or (
            self.state == "NEVER" and (self.objective is not None or self.last_error is not None))


@dataclass
class RunPoint:
    """One run of the ledger, for charts (`run_history`)."""

    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    records: int
    rows_merged: int
    status: str
    error_message: str | None


def state_of(last_success: datetime | None, age: timedelta | None, objective: timedelta | None,
             failing: bool) -> str:
    """The rule `_VIEW_STATE` writes in SQL (ages in whole seconds, as its TIMESTAMP_DIFF); the
    integration test checks the two agree."""
    if last_success is None:
        return "NEVER"
    if objective is not None and age is not None and int(age.total_seconds()) > objective.total_seconds():
        return "LATE"
    return "FAILING" if failing else "OK"


# The ledger's facts per entity, from a CTE `runs` (its rows of the entities wanted) and the instant
# `{now}` (a query parameter for the command, CURRENT_TIMESTAMP() in the view). Written for what both
# BigQuery and bqemulator run: QUALIFY rather than ARRAY_AGG(... LIMIT 1).
_FACTS = """summary AS (
  SELECT entity, MAX(IF(status = 'succeeded', finished_at, NULL)) AS last_success,
    MAX(watermark) AS watermark_at,
    COUNTIF(started_at >= TIMESTAMP_SUB({now}, INTERVAL 24 HOUR)) AS runs_24h,
    COUNTIF(status = 'failed' AND started_at >= TIMESTAMP_SUB({now}, INTERVAL 24 HOUR)) AS failures_24h
  FROM runs GROUP BY entity
), failure AS (
  SELECT entity, COALESCE(finished_at, started_at) AS failed_at,
    COALESCE(error_message, error_class, 'failed') AS error_message
  FROM runs WHERE status = 'failed'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY entity ORDER BY started_at DESC) = 1
), position AS (
  SELECT entity, watermark_value FROM runs WHERE watermark_value IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY entity ORDER BY started_at DESC) = 1
), facts AS (
  SELECT s.entity, s.last_success,
    COALESCE(FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', s.watermark_at, 'UTC'), p.watermark_value) AS watermark,
    f.failed_at IS NOT NULL AND (s.last_success IS NULL OR f.failed_at > s.last_success) AS failing,
    s.runs_24h, s.failures_24h, f.error_message
  FROM summary AS s LEFT JOIN failure AS f USING (entity) LEFT JOIN position AS p USING (entity)
)"""
_LEDGER_COLUMNS = ("entity, status, started_at, finished_at, watermark, watermark_value, error_class, "
                   "error_message")
_VIEW_STATE = """CASE WHEN f.last_success IS NULL THEN 'NEVER'
    WHEN TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), f.last_success, SECOND) > o.objective_seconds THEN 'LATE'
    WHEN f.failing THEN 'FAILING' ELSE 'OK' END"""


def read_configs(settings: Settings, names: list[str] | None) -> tuple[list[EntityConfig], dict[str, str]]:
    """The entities named (default: every config), and `name → problem` for those that cannot be
    read. Status calls no API: unset `${NAME}`s do not matter here."""
    entities, problems = [], {}
    for name in names or list(config_files(settings.config_dir)):
        try:
            entities.append(load_entity(name, settings.config_dir, settings.schema_dir, ALL_FIELDS))
        except Exception as exc:
            problems[name] = " ".join(str(exc).split())
    return entities, problems


def collect_status(settings: Settings, entities: list[str] | None, now: datetime) -> list[EntityStatus]:
    """One EntityStatus per entity named (default: every config), in that order. ValueError naming
    the entity when a config cannot be read."""
    configs, problems = read_configs(settings, entities)
    if problems:
        raise ValueError("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
    return statuses(settings, configs, now)


def statuses(settings: Settings, configs: list[EntityConfig], now: datetime) -> list[EntityStatus]:
    """The status of parsed entities: one ledger query, one row-count query."""
    facts = _ledger_facts(settings, [c.name for c in configs], now)
    rows = row_counts(settings.project, configs)
    found = []
    for config in configs:
        fact = facts.get(config.name, {})
        last_success = fact.get("last_success")
        age = now - last_success if last_success else None
        failing = bool(fact.get("failing"))
        found.append(EntityStatus(
            entity=config.name, dataset=config.target.dataset, table=config.target.table,
            objective=config.freshness_objective, last_success=last_success,
            watermark=fact.get("watermark"), age=age,
            state=state_of(last_success, age, config.freshness_objective, failing),
            last_error=fact.get("error_message") if failing else None, rows=rows.get(config.name),
            runs_24h=fact.get("runs_24h") or 0, failures_24h=fact.get("failures_24h") or 0))
    return found


def _ledger_facts(settings: Settings, names: list[str], now: datetime) -> dict[str, dict]:
    table_id = runs_table_id(settings)
    if not names or bq_helper.get_table(table_id) is None:  # nothing has run yet
        return {}
    sql = (f"WITH runs AS (SELECT {_LEDGER_COLUMNS} FROM `{table_id}` WHERE entity IN UNNEST(@entities)), "
           f"{_FACTS.format(now='@now')}\nSELECT * FROM facts")
    job = bq_helper.query(sql, {"entities": names, "now": ("TIMESTAMP", now)})
    return {row["entity"]: dict(row.items()) for row in job.result()}


def row_counts(project: str, configs: Iterable[EntityConfig]) -> dict[str, int]:
    """entity → rows in its target table, for the tables that exist: one COUNT(*) query (free on
    BigQuery: answered from metadata; `num_rows` would do there, but the emulator leaves it 0)."""
    existing: dict[str, set[str]] = {}
    wanted = list(configs)
    for dataset in {c.target.dataset for c in wanted}:
        try:
            listed = bq_helper.client(project).list_tables(f"{project}.{dataset}")
            existing[dataset] = {table.table_id for table in listed}
        except NotFound:  # no dataset, so no table yet
            existing[dataset] = set()
    counted = [c for c in wanted if c.target.table in existing[c.target.dataset]]
    if not counted:
        return {}
    sql = "\nUNION ALL ".join(
        f"SELECT {_quote(c.name)} AS entity, COUNT(*) AS n "
        f"FROM `{project}.{c.target.dataset}.{c.target.table}`" for c in counted)
    return {row["entity"]: row["n"] for row in bq_helper.query(sql).result()}


def run_history(settings: Settings, entities: list[str] | None, days: int,
                now: datetime) -> dict[str, list[RunPoint]]:
    """entity → its runs started in the `days` days before `now`, oldest first (every entity named,
    or every config; an entity without runs has an empty list)."""
    names = entities or list(config_files(settings.config_dir))
    history: dict[str, list[RunPoint]] = {name: [] for name in names}
    table_id = runs_table_id(settings)
    if not names or bq_helper.get_table(table_id) is None:
        return history
    sql = (f"SELECT entity, started_at, finished_at, records, rows_merged, status, error_message "
           f"FROM `{table_id}` WHERE entity IN UNNEST(@entities) AND started_at >= @since "
           f"AND started_at <= @now ORDER BY entity, started_at")
    params = {"entities": names, "since": ("TIMESTAMP", now - timedelta(days=days)),
              "now": ("TIMESTAMP", now)}
    for row in bq_helper.query(sql, params).result():
        finished = row["finished_at"]
        history[row["entity"]].append(RunPoint(
            started_at=row["started_at"], finished_at=finished,
            duration_seconds=(finished - row["started_at"]).total_seconds() if finished else None,
            records=row["records"] or 0, rows_merged=row["rows_merged"] or 0, status=row["status"],
            error_message=row["error_message"]))
    return history


def _quote(text: str) -> str:
    """A BigQuery string literal: JSON's escapes (\\", \\\\, \\n, \\uXXXX) are BigQuery's too."""
    return json.dumps(text)


def view_id(settings: Settings) -> str:
    return f"{settings.project}.{settings.meta_dataset}.{VIEW}"


def view_statement(settings: Settings, configs: list[EntityConfig]) -> str:
    """CREATE OR REPLACE VIEW `<meta_dataset>.entity_status`: per entity of `configs`, its objective
    (a literal table: the configs are not in BigQuery) and the ledger's facts, as of the query."""
    literal = ["(SELECT CAST(NULL AS STRING) AS entity, CAST(NULL AS STRING) AS dataset, "
               "CAST(NULL AS STRING) AS `table`, CAST(NULL AS INT64) AS objective_seconds LIMIT 0)"]
    for c in configs:
        objective = c.freshness_objective
        seconds = str(int(objective.total_seconds())) if objective is not None else "NULL"
        values = (_quote(c.name), _quote(c.target.dataset), _quote(c.target.table), seconds)
        literal.append(f"SELECT {', '.join(values)}")
    objectives = "\n  UNION ALL ".join(literal)
    description = ("Freshness per entity (python -m ingestion status): state OK | LATE | NEVER | FAILING "
                   "against the configs' objectives, from the run ledger. Replaced by each deploy.")
    return (f"CREATE OR REPLACE VIEW `{view_id(settings)}`\n"
            f"OPTIONS (description = {_quote(description)})\nAS\n"
            f"WITH objectives AS (\n  {objectives}\n), runs AS (\n  SELECT {_LEDGER_COLUMNS} "
            f"FROM `{runs_table_id(settings)}` WHERE entity IN (SELECT entity FROM objectives)\n), "
            f"{_FACTS.format(now='CURRENT_TIMESTAMP()')}\n"
            f"SELECT o.entity, o.dataset, o.`table`, o.objective_seconds, f.last_success, f.watermark,\n"
            f"  TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), f.last_success, SECOND) AS age_seconds,\n"
            f"  {_VIEW_STATE} AS state,\n"
            f"  IF(f.failing, f.error_message, NULL) AS last_error,\n"
            f"  COALESCE(f.runs_24h, 0) AS runs_24h, COALESCE(f.failures_24h, 0) AS failures_24h\n"
            f"FROM objectives AS o LEFT JOIN facts AS f USING (entity)")


def runs_table_statement(settings: Settings) -> str:
    """CREATE TABLE IF NOT EXISTS for the run ledger, as the function creates it
    (ingestion/warehouse/ledger.py): the view needs it before the first run. For `bq query` (the
    deploy): bqemulator ignores DDL partitioning, so `create_view` uses the ledger's own code."""
    columns = ",\n  ".join(
        f"{f['name']} {f['type']}{' NOT NULL' if f.get('mode') == 'REQUIRED' else ''}"
        + (f" OPTIONS (description = {_quote(f['description'])})" if f.get("description") else "")
        for f in RUN_FIELDS)
    return (f"CREATE TABLE IF NOT EXISTS `{runs_table_id(settings)}` (\n  {columns}\n)\n"
            f"PARTITION BY DATE(started_at) CLUSTER BY entity, status\n"
            f"OPTIONS (description = {_quote('One row per sync attempt (see docs/operations.md)')})")


def create_view(settings: Settings, configs: list[EntityConfig]) -> str:
    """Create (or replace) the view through the client, the ledger first if nothing ran yet."""
    from ingestion.warehouse.ledger import _ensure_runs_table

    _ensure_runs_table(settings)
    bq_helper.query(view_statement(settings, configs))
    return view_id(settings)
