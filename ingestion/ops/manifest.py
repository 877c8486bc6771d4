"""What the configs ask of a Google Cloud project: datasets, secrets, Cloud Scheduler jobs, the
environment variables their `${NAME}` references read, and the freshness objectives alerts watch.

deploy/*.sh reads these (`python -m ingestion manifest <kind>`, one tab-separated line each), so
dropping in a config and re-running the deploy creates its dataset, its secret placeholder and its
schedule. The configs stay the single source of truth; the scripts hold no entity list. `manifest dbt`
writes the same configs as a dbt sources file instead (ingestion/ops/dbt_sources.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ingestion.contract.config import EntityConfig, config_files, load_entity
from ingestion.contract.envrefs import ALL_FIELDS, scan
from ingestion.contract.errors import ConfigError
from ingestion.contract.payload import parse_request
from ingestion.source.auth import AUTHENTICATORS

SCHEDULE_PREFIX = "ingest--"  # deploy/schedules.sh deletes jobs with this prefix no config declares


@dataclass(frozen=True)
class Schedule:
    job_id: str
    cron: str
    time_zone: str
    message: dict
    description: str

    def line(self) -> str:
        body = json.dumps(self.message, separators=(",", ":"))
        return "\t".join((self.job_id, self.cron, self.time_zone, body, self.description))


def load_all(config_dir: Path, schema_dir: Path) -> list[EntityConfig]:
    """Every entity; `${NAME}` values are not needed here (the deploy checks them: `env_lines`)."""
    return [load_entity(name, config_dir, schema_dir, ALL_FIELDS) for name in config_files(config_dir)]


def datasets(entities: list[EntityConfig]) -> list[str]:
    return sorted({entity.target.dataset for entity in entities})


def secrets(entities: list[EntityConfig]) -> list[tuple[str, bool]]:
    """(secret, whether the function writes new versions of it: rotating OAuth refresh tokens)."""
    found: dict[str, bool] = {}
    for entity in entities:
        secret = entity.auth.options.get("secret")
        if secret:
            rotates = AUTHENTICATORS[entity.auth.type].rotates_secret
            found[secret] = found.get(secret, False) or rotates
    return sorted(found.items())


def schedules(entities: list[EntityConfig], prefix: str = SCHEDULE_PREFIX) -> list[Schedule]:
    """One Cloud Scheduler job per entity whose config declares a `schedule`; its message is
    validated like any trigger message, so a schedule can never publish one the function rejects."""
    found: dict[str, Schedule] = {}
    for entity in entities:
        spec = entity.schedule
        if not spec:
            continue
        message = {"entity": entity.name, "sync_mode": spec.sync_mode}
        parse_request(message)
        job_id = prefix + entity.name.replace("/", "--")
        if job_id in found:
            raise ConfigError(f"{entity.name}: Cloud Scheduler job id {job_id} is also the id of "
                              f"{found[job_id].message['entity']}; rename one of them")
        found[job_id] = Schedule(job_id, spec.cron, spec.time_zone, message,
                                 f"{message['sync_mode']} sync of {entity.name} "
                                 f"(config/{entity.name}.json, deployed by deploy/schedules.sh)")
    return list(found.values())


def objectives(entities: list[EntityConfig]) -> list[tuple[str, int]]:
    """(entity, objective in whole seconds) per entity that has one: deploy/alerts.sh alerts when an
    entity has had no successful run for that long (an entity without one is never LATE)."""
    found = []
    for entity in entities:
        objective = entity.freshness_objective
        if objective is not None:
            found.append((entity.name, int(objective.total_seconds())))
    return found


def env_lines(config_dir: Path) -> list[str]:
    """`NAME<TAB>required|optional<TAB>config files` per variable the configs read: the function
    needs every required one (no default) in its environment; an optional one overrides a default."""
    found: dict[str, tuple[bool, dict[str, None]]] = {}
    for ref in scan(config_dir):
        required, files = found.get(ref.name, (False, {}))
        files[f"config/{ref.file.parent.name}/{ref.file.name}"] = None
        found[ref.name] = (required or ref.default is None, files)
    return [f"{name}\t{'required' if required else 'optional'}\t{','.join(files)}"
            for name, (required, files) in sorted(found.items())]


def lines(kind: str, config_dir: Path, schema_dir: Path, prefix: str = SCHEDULE_PREFIX,
          project: str | None = None) -> list[str]:
    if kind == "env":
        return env_lines(config_dir)
    entities = load_all(config_dir, schema_dir)
    if kind == "dbt":
        from ingestion.ops.dbt_sources import render  # imports the warehouse: only when asked

        return render(entities, project).splitlines()
    if kind == "datasets":
        return datasets(entities)
    if kind == "secrets":
        return [f"{name}\t{'rotates' if rotates else 'reads'}" for name, rotates in secrets(entities)]
    if kind == "objectives":
        return [f"{name}\t{seconds}" for name, seconds in objectives(entities)]
    return [schedule.line() for schedule in schedules(entities, prefix)]
