"""Deployment settings, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (or the deployed bundle)


@dataclass(frozen=True)
class Settings:
    project: str
    bucket: str
    meta_dataset: str = "ingest_meta"
    location: str = "US"
    config_dir: Path = ROOT / "config"
    schema_dir: Path = ROOT / "schema"
    trigger_topic: str = "ingest-trigger"  # continuations and parallel backfills publish here
    # Stop starting new windows after this many seconds and publish a continuation: the rest of
    # the 540 s limit is left for the last load + MERGE.
    time_budget_seconds: float = 420
    # A lease outlives the longest possible run (540 s), so an expired one means its holder died.
    lease_seconds: float = 600
    step_records: int = 250_000  # a step (load + MERGE + checkpoint) after this many records
    max_parallel: int = 32  # upper bound of messages one backfill fans out into

    @classmethod
    def from_env(cls) -> Settings:
        missing = [v for v in ("GOOGLE_CLOUD_PROJECT", "INGEST_BUCKET") if not os.environ.get(v)]
        if missing:
            raise RuntimeError(f"environment variable(s) not set: {', '.join(missing)}")
        return cls(
            project=os.environ["GOOGLE_CLOUD_PROJECT"],
            bucket=os.environ["INGEST_BUCKET"],
            meta_dataset=os.environ.get("INGEST_META_DATASET", cls.meta_dataset),
            location=os.environ.get("INGEST_BQ_LOCATION", cls.location),
            config_dir=Path(os.environ.get("INGEST_CONFIG_DIR", cls.config_dir)),
            schema_dir=Path(os.environ.get("INGEST_SCHEMA_DIR", cls.schema_dir)),
            trigger_topic=os.environ.get("INGEST_TRIGGER_TOPIC", cls.trigger_topic),
            time_budget_seconds=float(os.environ.get("INGEST_TIME_BUDGET_SECONDS",
                                                     cls.time_budget_seconds)),
            lease_seconds=float(os.environ.get("INGEST_LEASE_SECONDS", cls.lease_seconds)),
            step_records=int(os.environ.get("INGEST_STEP_RECORDS", cls.step_records)),
            max_parallel=int(os.environ.get("INGEST_MAX_PARALLEL", cls.max_parallel)),
        )
