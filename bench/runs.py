"""The measured runs: each in a fresh process (bench/child.py, bench/airbyte.py), each against its
own mock API process, config folder, bucket and dataset, on one local stack."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench import beside, scenarios
from bench.scenarios import ROOT, SECRET, Reports, Shape, Windows

AIRBYTE_PYTHON = ROOT / ".local/bench-airbyte/bin/python"  # made by `make bench`


class BenchFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailure(message)


def run_child(what: str, args: dict, env: dict[str, str], python: str = sys.executable,
              module: str = "bench.child") -> dict:
    command = [python, "-m", module, what, json.dumps(args)]
    if module == "bench.airbyte":
        command = [python, "-m", module, json.dumps(args)]
    if (folder := os.environ.get("BENCH_PROFILE_DIR")) and what not in ("import", "airbyte"):
        # py-spy samples every thread from outside: wall time (--idle), or with BENCH_PROFILE=cpu
        # only the thread holding the GIL, i.e. where the process's one core of Python goes.
        cpu = os.environ.get("BENCH_PROFILE") == "cpu"
        profile = Path(folder) / f"{what}-{'cpu' if cpu else 'wall'}-{time.strftime('%H%M%S')}.txt"
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate",
                   "250", "--threads", "--nonblocking", "--gil" if cpu else "--idle", "--output",
                   str(profile), "--", *command]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not results:
        raise RuntimeError(f"bench {what} failed (exit code {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(results[-1].removeprefix("RESULT "))


def airbyte_python() -> Path | None:
    python = Path(os.environ.get("BENCH_AIRBYTE_PYTHON") or AIRBYTE_PYTHON)
    return python if python.exists() else None


def median_run(runs: list[dict]) -> dict:
    """The median of end-to-end runs, with the highest peak RSS and every run's time."""
    runs = sorted(runs, key=lambda r: r["run_s"])
    return {**runs[len(runs) // 2], "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "all_run_s": [round(r["run_s"], 2) for r in runs]}


class Bench:
    def __init__(self, workdir: Path):
        from local.stack import LocalStack

        self.workdir = workdir
        self.key = secrets.token_urlsafe(16)
        self.stack = LocalStack(workdir / "stack").start()
        self.stack.apply_env()
        self.stack_sessions = {proc.pid: beside.label(proc.args) for proc in self.stack.procs}
        self.runs = 0

    def close(self) -> None:
        self.stack.stop()

    def setup(self) -> None:
        from utils import pubsub_helper, secret_manager_helper

        secret_manager_helper.create_secret(self.stack.project, SECRET)
        secret_manager_helper.add_secret_version(self.stack.project, SECRET,
                                                 json.dumps({"api_key": self.key}))
        pubsub_helper.ensure_topic(self.stack.project, "ingest-trigger")

    def stack_env(self) -> dict[str, str]:
        return {**os.environ, **self.stack.env}

    def env_for(self, write, api_url: str) -> tuple[dict[str, str], str, str]:
        """A fresh config folder (`write(folder, dataset)` → entity name), bucket and dataset for
        one run; returns (env, dataset, entity)."""
        from utils import gcs_helper

        self.runs += 1
        dataset = f"bench_{self.runs}"
        folder = self.workdir / f"run-{self.runs}"
        entity = write(folder, dataset)
        bucket = f"bench-{self.runs}"
        gcs_helper.client().create_bucket(bucket)
        env = {**self.stack_env(), "BENCH_API_URL": api_url, "INGEST_BUCKET": bucket,
               "INGEST_CONFIG_DIR": str(folder / "config"), "INGEST_SCHEMA_DIR": str(folder / "schema"),
               "INGEST_LOG_LEVEL": "WARNING"}
        return env, dataset, entity

    def cold_import(self) -> dict:
        runs = [run_child("import", {}, self.stack_env()) for _ in range(3)]
        return max(runs, key=lambda r: r["import_s"])

    def extract(self, shape: Shape) -> dict:
        with scenarios.items_api(shape, self.key) as url:
            env, _, entity = self.env_for(lambda f, d: scenarios.items_entity(f, shape, d), url)
            result = run_child("extract", {"entity": entity}, env)
            print(f"    {json.dumps(result)}", file=sys.stderr)
        check(result["records"] == shape.records, f"extract read {result['records']} records, "
              f"the API has {shape.records}")
        return result

    def end_to_end(self, shape: Shape, repeat: int = 1) -> dict:
        """The median of `repeat` runs, each a fresh process, table and bucket (the machine's
        noise is ±15% here); peak RSS is the highest of them."""
        return median_run([self.one_sync(shape) for _ in range(repeat)])

    def one_sync(self, shape: Shape) -> dict:
        with scenarios.items_api(shape, self.key) as url:
            return self.sync(lambda f, d: scenarios.items_entity(f, shape, d), url,
                             {"sync_mode": "incremental"}, "items", shape.records)

    def windows(self, windows: Windows) -> dict:
        """600 one-hour windows, end to end (an `incremental_window` message over exactly them):
        what an hourly re-read costs the user, however the suite walks the windows."""
        with scenarios.windows_api(windows, self.key) as url:
            message = {"sync_mode": "incremental_window", "start_date": windows.start.isoformat(),
                       "end_date": windows.end.isoformat()}
            return self.sync(lambda f, d: scenarios.windows_entity(f, windows, d), url, message, "events",
                             windows.events)

    def reports(self, reports: Reports) -> dict:
        """A report job per fan-out item, end to end (an incremental run: one window per item)."""
        with scenarios.reports_api(reports, self.key) as url:
            return self.sync(lambda f, d: scenarios.reports_entity(f, reports, d), url,
                             {"sync_mode": "incremental"}, "reports", reports.rows)

    def sync(self, write, url: str, message: dict, table_name: str, expected: int) -> dict:
        """One trigger message through the function; the table must hold exactly `expected` rows."""
        from utils import bq_helper

        env, dataset, entity = self.env_for(write, url)
        before = beside.processes()
        result = run_child("function", {"message": {"entity": entity, **message},
                                        "message_id": f"bench-{self.runs}",
                                        "topic": "projects/local-project/topics/ingest-trigger"}, env)
        # the servers' CPU over the child's life: idle while it starts, so its run's share
        result["beside_cpu_s"] = beside.spent(before, beside.processes(), self.stack_sessions)
        table = f"{self.stack.project}.{dataset}.{table_name}"
        rows = next(iter(bq_helper.query(f"SELECT COUNT(*) FROM `{table}`").result()))[0]
        check(result["http_status"] in (200, 204), f"the function answered {result['http_status']}")
        check(rows == expected, f"{table} has {rows} rows, the API has {expected} records")
        print(f"    {json.dumps(result)}", file=sys.stderr)
        return result

    def dlt(self, shape: Shape) -> dict | None:
        try:
            import dlt  # noqa: F401
        except ImportError:
            return None
        with scenarios.items_api(shape, self.key) as url:
            args = {"base_url": url, "api_key": self.key, "path": shape.path.lstrip("/"),
                    "page_size": shape.page_size, "known_page_count": shape.known_page_count,
                    "workdir": str(self.workdir / f"dlt-{shape.records}-{shape.page_size}")}
            result = run_child("dlt", args, self.stack_env())
        check(result["rows"] == shape.records, f"dlt loaded {result['rows']} rows, the API has "
              f"{shape.records} records")
        return result

    def airbyte(self, shape: Shape, entrypoint: bool = False) -> dict | None:
        """Airbyte's declarative source on the same API, in its own venv; None when not installed."""
        python = airbyte_python()
        if python is None:
            return None
        with scenarios.items_api(shape, self.key) as url:
            args = {"base_url": url, "api_key": self.key, "page_size": shape.page_size,
                    "concurrency": shape.concurrency, "entrypoint": entrypoint}
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
            result = run_child("airbyte", args, env, str(python), "bench.airbyte")
        check(entrypoint or result["records"] == shape.records,
              f"Airbyte read {result['records']} records, the API has {shape.records}")
        return result
