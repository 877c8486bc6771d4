"""`make bench` (`python -m bench`): the suite against dlt on one loopback API, and the targets.

Starts the mock API (bench/api.py) and the local stack (fake-gcs-server, bqemulator, stand-ins),
then runs, each in a fresh process (bench/child.py):

  cold import   `import main` of functions/main.py, three times; the slowest counts
  extract       the suite's extraction alone (fetch + parse every page)
  end to end    one trigger message through the function: API → GCS → load → MERGE → state
  dlt           dlt's rest_api source → duckdb, merge on id (when `dlt[duckdb]` is installed)
  latency       extraction again with 50 ms per page and a known page count
  1M records    end to end at --rss-records, for the memory target

Prints a table, each target with its verdict, and last one machine-readable `BENCH ...` line.
Exits 1 when a target is missed (or a run loads the wrong number of rows).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.api import SCHEMA

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-api"


@dataclass(frozen=True)
class Shape:
    """The API and how the suite reads it."""

    records: int
    page_size: int
    record_bytes: int
    latency_ms: float
    known_page_count: bool
    concurrency: int

    @property
    def pages(self) -> int:
        return -(-self.records // self.page_size)

    @property
    def path(self) -> str:
        return "/v1/items" if self.known_page_count else "/v1/items_stream"


@contextmanager
def mock_api(shape: Shape, key: str):
    """bench/api.py in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--records", str(shape.records), "--page-size",
         str(shape.page_size), "--record-bytes", str(shape.record_bytes), "--latency-ms",
         str(shape.latency_ms), f"--key={key}"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("port="):
            raise RuntimeError(f"the mock API did not start (exit code {proc.poll()})")
        yield f"http://127.0.0.1:{line.strip().removeprefix('port=')}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_entity(folder: Path, shape: Shape, dataset: str) -> None:
    """config/bench/items.json and its schema: how a team would describe this API."""
    (folder / "config/bench").mkdir(parents=True)
    (folder / "schema/bench").mkdir(parents=True)
    source = {"base_url": "${BENCH_API_URL}", "start_date": "2026-01-01",
              "auth": {"type": "api_key", "in": "header", "name": "X-API-Key", "secret": SECRET,
                       "value_key": "api_key"},
              "http": {"max_concurrency": shape.concurrency}, "target": {"dataset": dataset}}
    pagination = {"type": "page_number", "page_param": "page", "size_param": "per_page",
                  "page_size": shape.page_size}
    if shape.known_page_count:
        pagination["total_pages_path"] = "meta.total_pages"
    entity = {"request": {"path": shape.path}, "records": {"path": "data"}, "pagination": pagination,
              "cursor_field": "updated_at", "merge_keys": ["id"], "target": {"table": "items"}}
    (folder / "config/bench/_source.json").write_text(json.dumps(source, indent=2))
    (folder / "config/bench/items.json").write_text(json.dumps(entity, indent=2))
    (folder / "schema/bench/items.json").write_text(json.dumps(SCHEMA, indent=2))


def run_child(what: str, args: dict, env: dict[str, str]) -> dict:
    command = [sys.executable, "-m", "bench.child", what, json.dumps(args)]
    if (folder := os.environ.get("BENCH_PROFILE_DIR")) and what != "import":
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


class Bench:
    def __init__(self, workdir: Path):
        from local.stack import LocalStack

        self.workdir = workdir
        self.key = secrets.token_urlsafe(16)
        self.stack = LocalStack(workdir / "stack").start()
        self.stack.apply_env()
        self.runs = 0

    def close(self) -> None:
        self.stack.stop()

    def setup(self) -> None:
        from utils import pubsub_helper, secret_manager_helper

        secret_manager_helper.create_secret(self.stack.project, SECRET)
        secret_manager_helper.add_secret_version(self.stack.project, SECRET,
                                                 json.dumps({"api_key": self.key}))
        pubsub_helper.ensure_topic(self.stack.project, "ingest-trigger")

    def env_for(self, shape: Shape, api_url: str) -> tuple[dict[str, str], str]:
        """A fresh config folder, bucket and dataset for one run; returns (env, dataset)."""
        from utils import gcs_helper

        self.runs += 1
        dataset = f"bench_{self.runs}"
        folder = self.workdir / f"run-{self.runs}"
        write_entity(folder, shape, dataset)
        bucket = f"bench-{self.runs}"
        gcs_helper.client().create_bucket(bucket)
        env = {**os.environ, **self.stack.env, "BENCH_API_URL": api_url, "INGEST_BUCKET": bucket,
               "INGEST_CONFIG_DIR": str(folder / "config"), "INGEST_SCHEMA_DIR": str(folder / "schema"),
               "INGEST_LOG_LEVEL": "WARNING"}
        return env, dataset

    def cold_import(self) -> dict:
        runs = [run_child("import", {}, self.stack_env()) for _ in range(3)]
        return max(runs, key=lambda r: r["import_s"])

    def stack_env(self) -> dict[str, str]:
        return {**os.environ, **self.stack.env}

    def extract(self, shape: Shape) -> dict:
        with mock_api(shape, self.key) as url:
            env, _ = self.env_for(shape, url)
            result = run_child("extract", {"entity": "bench/items"}, env)
        check(result["records"] == shape.records, f"extract read {result['records']} records, "
              f"the API has {shape.records}")
        return result

    def end_to_end(self, shape: Shape, repeat: int = 1) -> dict:
        """The median of `repeat` runs, each a fresh process, table and bucket (the machine's
        noise is ±15% here); peak RSS is the highest of them."""
        runs = sorted((self.one_sync(shape) for _ in range(repeat)), key=lambda r: r["run_s"])
        return {**runs[len(runs) // 2], "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "all_run_s": [round(r["run_s"], 2) for r in runs]}

    def one_sync(self, shape: Shape) -> dict:
        from utils import bq_helper

        with mock_api(shape, self.key) as url:
            env, dataset = self.env_for(shape, url)
            message = {"entity": "bench/items", "sync_mode": "incremental"}
            result = run_child("function", {"message": message, "message_id": f"bench-{self.runs}",
                                            "topic": "projects/local-project/topics/ingest-trigger"}, env)
        table = f"{self.stack.project}.{dataset}.items"
        query = f"SELECT COUNT(*), COUNT(DISTINCT id) FROM `{table}`"
        rows, keys = next(iter(bq_helper.query(query).result()))
        check(result["http_status"] in (200, 204), f"the function answered {result['http_status']}")
        check(rows == keys == shape.records, f"{table} has {rows} rows ({keys} keys), the API has "
              f"{shape.records} records")
        print(f"    {json.dumps(result)}", file=sys.stderr)
        return result

    def dlt(self, shape: Shape) -> dict | None:
        try:
            import dlt  # noqa: F401
        except ImportError:
            return None
        with mock_api(shape, self.key) as url:
            args = {"base_url": url, "api_key": self.key, "path": shape.path.lstrip("/"),
                    "page_size": shape.page_size, "known_page_count": shape.known_page_count,
                    "workdir": str(self.workdir / f"dlt-{shape.records}")}
            result = run_child("dlt", args, self.stack_env())
        check(result["rows"] == shape.records, f"dlt loaded {result['rows']} rows, the API has "
              f"{shape.records} records")
        return result


class BenchFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailure(message)


def per_s(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def report(shape: Shape, figures: dict) -> list[tuple[str, bool, str]]:
    """Print the table; returns (target, met, detail) for each target measured."""
    e2e, extract, dlt, lat, big, imp = (figures.get(k) for k in ("e2e", "extract", "dlt", "latency",
                                                                  "rss", "import"))
    print(f"\nAPI: {shape.records:,} records of ~{shape.record_bytes} B, {shape.page_size}/page "
          f"({shape.pages:,} pages, page count {'known' if shape.known_page_count else 'unknown'}), "
          f"{shape.latency_ms:g} ms/page; suite concurrency {shape.concurrency}\n")
    print(f"{'run':<34}{'seconds':>10}{'records/s':>12}{'peak RSS MB':>13}")
    rows = [("cold import of functions/main.py", imp, None),
            ("suite: extract only", extract, shape.records),
            ("suite: end to end (function)", e2e, shape.records),
            ("dlt rest_api → duckdb, merge", dlt, shape.records),
            (f"suite: extract, {figures['latency_ms']:g} ms/page", lat, shape.records)]
    if big:
        rows.append((f"suite: end to end, {figures['rss_records']:,}", big, figures["rss_records"]))
    for label, result, count in rows:
        if result is None:
            print(f"{label:<34}{'skipped':>10}")
            continue
        seconds = result.get("run_s", result.get("import_s"))
        rate = f"{per_s(count, seconds):,.0f}" if count else ""
        rss = f"{result['peak_rss_mb']:,.0f}" if "peak_rss_mb" in result else ""
        print(f"{label:<34}{seconds:>10.2f}{rate:>12}{rss:>13}")
    print(f"\nend to end: runs of {', '.join(map(str, e2e['all_run_s']))} s (the median counts); the "
          f"first message's imports took {e2e['first_message_import_s']:.2f} s more (not counted, as "
          f"importing dlt is not); {e2e['run_cpu_s']:.2f} s CPU, {e2e['run_gc_s']:.2f} s of it in the "
          "garbage collector")
    targets = []
    if dlt:
        ratio = per_s(shape.records, e2e["run_s"]) / per_s(shape.records, dlt["run_s"])
        targets.append(("end to end ≥ 10 × dlt's records/s", ratio >= 10, f"{ratio:.1f} ×"))
    if big:
        small_rss, big_rss = e2e["peak_rss_mb"], big["peak_rss_mb"]
        targets.append((f"peak RSS at {figures['rss_records']:,} < 300 MB", big_rss < 300,
                        f"{big_rss:.0f} MB"))
        growth = big_rss / small_rss - 1
        targets.append((f"… within 20% of its {shape.records:,}-record value", growth <= 0.2,
                        f"{small_rss:.0f} → {big_rss:.0f} MB ({growth:+.0%})"))
    if lat:
        pages, latency = figures["latency_pages"], figures["latency_ms"] / 1000
        bound = 1.5 * pages * latency / lat["concurrency"] + 2
        targets.append((f"extract at {figures['latency_ms']:g} ms/page ≤ 1.5 × pages × latency / "
                        "concurrency + 2 s", lat["run_s"] <= bound,
                        f"{lat['run_s']:.2f} s ≤ {bound:.2f} s ({pages} pages, concurrency "
                        f"{lat['concurrency']})"))
    targets.append(("cold import < 1 s", imp["import_s"] < 1,
                    f"{imp['import_s']:.2f} s; heavy modules loaded: "
                    f"{', '.join(imp['heavy_modules_loaded']) or 'none'}"))
    print()
    for name, met, detail in targets:
        print(f"{'MET ' if met else 'MISSED'}  {name}: {detail}")
    return targets


def bench_line(shape: Shape, figures: dict) -> str:
    e2e, extract, dlt, big = figures["e2e"], figures["extract"], figures.get("dlt"), figures.get("rss")
    e2e_rate, dlt_rate = per_s(shape.records, e2e["run_s"]), None
    if dlt:
        dlt_rate = per_s(shape.records, dlt["run_s"])
    peak = max(e2e["peak_rss_mb"], big["peak_rss_mb"] if big else 0)
    return (f"BENCH records={shape.records} e2e_rec_per_s={e2e_rate:.0f} "
            f"extract_rec_per_s={per_s(shape.records, extract['run_s']):.0f} peak_rss_mb={peak:.0f} "
            f"dlt_rec_per_s={'NA' if dlt_rate is None else f'{dlt_rate:.0f}'} "
            f"ratio_vs_dlt={'NA' if dlt_rate is None else f'{e2e_rate / dlt_rate:.1f}'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records the API serves (100000)")
    parser.add_argument("--latency-ms", type=float, default=0, help="per-page latency of the main runs (0)")
    parser.add_argument("--page-size", type=int, default=1000,
                        help="records per page (1000: what bulk endpoints allow, and what a team sets)")
    parser.add_argument("--record-bytes", type=int, default=300,
                        help="pad records to about this JSON size (300; an order is ~320 B unpadded)")
    parser.add_argument("--concurrency", type=int, default=8, help="the suite's http.max_concurrency (8)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="end-to-end runs at --records; the median counts (3)")
    parser.add_argument("--unknown-page-count", action="store_true",
                        help="serve no page count: clients walk page by page until a short page")
    parser.add_argument("--target-latency-ms", type=float, default=50,
                        help="per-page latency of the latency-target extraction (50)")
    parser.add_argument("--rss-records", type=int, default=1_000_000,
                        help="records of the memory-target end-to-end run (1000000; 0 skips it)")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt even when it is installed")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="profile every run with pyinstrument; reports (.txt, .html) go to DIR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.profile:
        options.profile.mkdir(parents=True, exist_ok=True)
        os.environ["BENCH_PROFILE_DIR"] = str(options.profile.resolve())
    shape = Shape(options.records, options.page_size, options.record_bytes, options.latency_ms,
                  not options.unknown_page_count, options.concurrency)
    figures: dict = {"latency_ms": options.target_latency_ms}
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        print("Starting the local stack ...", file=sys.stderr, flush=True)
        bench = Bench(Path(tmp))
        try:
            bench.setup()
            steps = [("import", lambda: bench.cold_import()),
                     ("extract", lambda: bench.extract(shape)),
                     ("e2e", lambda: bench.end_to_end(shape, options.repeat))]
            if not options.no_dlt:
                steps.append(("dlt", lambda: bench.dlt(shape)))
            latency_shape = replace(shape, latency_ms=options.target_latency_ms, known_page_count=True)
            figures["latency_pages"] = latency_shape.pages
            steps.append(("latency", lambda: bench.extract(latency_shape)))
            if options.rss_records:
                figures["rss_records"] = options.rss_records
                steps.append(("rss", lambda: bench.end_to_end(replace(shape, records=options.rss_records))))
            for name, step in steps:
                print(f"  {name} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                figures[name] = step()
                print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        except BenchFailure as exc:
            print(f"BENCH FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            bench.close()
    targets = report(shape, figures)
    print(bench_line(shape, figures))
    return 0 if all(met for _, met, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
