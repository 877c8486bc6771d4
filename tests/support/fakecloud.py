"""The fake Google Cloud the deploy tests run the deploy scripts against: `gcloud`/`bq`
executables (tests/support/fakes/gcloud) first on PATH that record every call and remember what
was created."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ingestion.contract.settings import ROOT

DEPLOY = ROOT / "deploy"
PROJECT = "acme-data"


@dataclass
class Call:
    words: list[str]  # tool and positional words: gcloud scheduler jobs create pubsub <id>
    args: list[str]

    def flag(self, name: str) -> str:
        return self.args[self.args.index(name) + 1]


@dataclass
class Cloud:
    tmp: Path
    env: dict[str, str]

    def deploy(self, script: str = "deploy.sh", *args: str, check: bool = True,
               **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(["bash", str(DEPLOY / script), "--project", PROJECT, *args],
                                env={**self.env, **env}, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def calls(self) -> list[dict]:
        log = Path(self.env["FAKE_CLOUD_LOG"])
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def commands(self, *words: str) -> list[Call]:
        """Calls whose command words start with `words`, e.g. ("gcloud", "scheduler", "jobs")."""
        found = [Call([c["tool"], *c["words"]], c["args"]) for c in self.calls()]
        return [c for c in found if c.words[:len(words)] == list(words)]

    def forget_calls(self) -> None:
        Path(self.env["FAKE_CLOUD_LOG"]).unlink(missing_ok=True)

    def configs(self) -> tuple[Path, Path]:
        """A private copy of config/ and schema/ the test may change."""
        configs, schemas = self.tmp / "config", self.tmp / "schema"
        if not configs.exists():
            shutil.copytree(ROOT / "config", configs)
            shutil.copytree(ROOT / "schema", schemas)
            self.env.update(INGEST_CONFIG_DIR=str(configs), INGEST_SCHEMA_DIR=str(schemas))
        return configs, schemas


def fake_cloud(tmp_path: Path) -> Cloud:
    """Fake `gcloud`/`bq` first on PATH (this interpreter runs them), recording every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = (ROOT / "tests/support/fakes/gcloud").read_text().split("\n", 1)[1]
    for tool in ("gcloud", "bq"):  # this interpreter, without site-packages: it starts in ~10 ms
        (bin_dir / tool).write_text(f"#!{sys.executable} -S\n{fake}")
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHON": sys.executable, "BUILD_DIR": str(tmp_path / "build"),
           "FAKE_CLOUD_LOG": str(tmp_path / "calls.jsonl"),
           "FAKE_CLOUD_STATE": str(tmp_path / "state.json")}
    for var in ("INGEST_CONFIG_DIR", "INGEST_SCHEMA_DIR", "GOOGLE_CLOUD_PROJECT", "REGION"):
        env.pop(var, None)
    return Cloud(tmp_path, env)
