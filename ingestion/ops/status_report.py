"""`python -m ingestion status`: the entities' freshness (ingestion/ops/status.py) as a table a person
reads, as JSON a script reads (the same facts, the view's column names plus `rows`), and the
statements that create the `entity_status` view.

Exit code: 0 when no entity needs attention; 1 when one is LATE or FAILING, or NEVER though it has an
objective (or has failed) — an entity nobody schedules and nobody ran is no alarm — or when a config
cannot be read (one `ERROR <entity>: <cause>` line each; the others are still listed).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

from ingestion.contract.dates import to_rfc3339
from ingestion.contract.redact import redact
from ingestion.contract.settings import Settings
from ingestion.ops.status import (
    EntityStatus,
    create_view,
    read_configs,
    runs_table_statement,
    statuses,
    view_statement,
)

ERROR_WIDTH = 60  # characters of the last error the table shows (JSON has it whole)


def duration_text(value: timedelta | None) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`: an age or objective at a glance."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def short(text: str | None, width: int = ERROR_WIDTH) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"


def table_lines(found: list[EntityStatus]) -> list[str]:
    """One line per entity under a header, columns aligned; the last error last, shortened."""
    header = ["ENTITY", "STATE", "AGE/OBJECTIVE", "LAST SUCCESS", "WATERMARK", "ROWS", "RUNS 24H",
              "FAILED 24H", "LAST ERROR"]
    rows = [[s.entity, s.state, f"{duration_text(s.age)}/{duration_text(s.objective)}",
             s.last_success.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if s.last_success else "never",
             s.watermark or "-", "-" if s.rows is None else f"{s.rows:,}", str(s.runs_24h),
             str(s.failures_24h), short(s.last_error)] for s in found]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
            for r in [header, *rows]]


def summary_line(found: list[EntityStatus]) -> str:
    counts = {state: sum(s.state == state for s in found) for state in ("OK", "LATE", "FAILING", "NEVER")}
    return f"{len(found)} entit{'y' if len(found) == 1 else 'ies'}: " + ", ".join(
        f"{n} {state}" for state, n in counts.items() if n)


def as_json(status: EntityStatus) -> dict:
    """The view's columns (`objective_seconds`, `age_seconds`…) plus `rows`; times in RFC 3339."""
    return {
        "entity": status.entity, "dataset": status.dataset, "table": status.table,
        "objective_seconds": None if status.objective is None else int(status.objective.total_seconds()),
        "last_success": to_rfc3339(status.last_success) if status.last_success else None,
        "watermark": status.watermark,
        "age_seconds": None if status.age is None else int(status.age.total_seconds()),
        "state": status.state, "last_error": status.last_error, "rows": status.rows,
        "runs_24h": status.runs_24h, "failures_24h": status.failures_24h,
    }


def report(settings: Settings, names: list[str] | None, json_output: bool,
           now: datetime | None = None) -> int:
    """Print the status of the entities named (default: all); the exit code (see the module)."""
    now = now or datetime.now(UTC)
    configs, problems = read_configs(settings, names)
    for name, problem in problems.items():
        print(f"ERROR {redact(f'{name}: {problem}')}", file=sys.stderr)
    found = statuses(settings, configs, now)
    if json_output:
        print(json.dumps({"now": to_rfc3339(now), "entities": [as_json(s) for s in found]}, indent=2))
    else:
        print("\n".join([*table_lines(found), summary_line(found)]) if found else "no entity")
    return 1 if problems or any(s.needs_attention for s in found) else 0


def view(settings: Settings, print_sql: bool) -> int:
    """`--create-view`: create or replace `<meta_dataset>.entity_status` from every config (the
    ledger too, when nothing ran yet). `--view-sql`: print the statements instead, for `bq query`
    (the deploy runs them: deploy/views.sh)."""
    configs, problems = read_configs(settings, None)
    if problems:  # a view without an entity would hide it: fix the config first
        for name, problem in problems.items():
            print(f"ERROR {redact(f'{name}: {problem}')}", file=sys.stderr)
        return 1
    if print_sql:
        print(f"{runs_table_statement(settings)};\n\n{view_statement(settings, configs)};")
        return 0
    print(f"created or replaced view {create_view(settings, configs)} ({len(configs)} entities)")
    return 0
