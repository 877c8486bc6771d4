"""Deployment settings, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    project: str
    bucket: str
    meta_dataset: str = "ingest_meta"
    location: str = "US"
    config_dir: Path = ROOT / "config"
    schema_dir: Path = ROOT / "schema"

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
        )
