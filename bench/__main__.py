"""`make bench` (`python -m bench`): the suite against dlt and Airbyte on one loopback API, and the targets.

Starts the local stack (fake-gcs-server, bqemulator, stand-ins) and, per run, the mock API
(bench/api.py) in a process of its own, then runs, each in a fresh process (bench/child.py):

  import     `import main` of functions/main.py, three times; the slowest counts
  extract    the suite's extraction alone (fetch + parse every page), at each page size
  airbyte    Airbyte's declarative source (airbyte-cdk, its own venv) on the same API and paging,
             at each page size, records counted in-process (bench/airbyte.py says why that way)
  e2e        one trigger message through the function: API → GCS → load → MERGE → state, at
             each page size (100 and 1,000 per page: same records), the median of --repeat runs
             (with dlt: half of them before dlt's run, the rest after it)
  dlt        dlt's rest_api source → duckdb, merge on id (when `dlt[duckdb]` is installed), at
             each page size
  latency    extraction again with 50 ms per page and a known page count
  windows    end to end: 600 one-hour windows (`incremental_window`, date_filter step PT1H) of a
             date-filtered endpoint, 50 ms per request, http.max_concurrency 8.
             Target: wall ≤ 1.5 × windows × latency / concurrency + 2 s
  reports    end to end: 50 fan-out items (`fan_out.items`), each an `async_job` (POST → id, polled
             until `done`, which the API answers 2 s after the POST), then 2 result pages;
             50 ms per request, http.max_concurrency 8. The ideal is every job overlapped:
             2 s + 50 × 4 requests (create, one poll, two pages) × 50 ms / 8 = 3.25 s.
             Target: wall ≤ 1.5 × ideal
  rss        end to end at --rss-records, for the memory target

Prints a table, each target MET or MISSED, and last one machine-readable `BENCH ...` line.
Exits 1 when a target is missed (or a run loads the wrong number of rows).
`--only windows,reports` runs a subset (the names above).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import report
from bench.runs import Bench, BenchFailure, median_run
from bench.scenarios import Reports, Shape, Windows

RUNS = ("import", "extract", "airbyte", "e2e", "dlt", "latency", "windows", "reports", "rss")


def names(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    if unknown := set(chosen) - set(RUNS):
        raise argparse.ArgumentTypeError(f"unknown run(s) {', '.join(sorted(unknown))}; "
                                         f"pick from {', '.join(RUNS)}")
    return chosen


def sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records the API serves (100000)")
    parser.add_argument("--latency-ms", type=float, default=0, help="per-page latency of the main runs (0)")
    parser.add_argument("--page-sizes", "--page-size", dest="page_sizes", type=sizes, default=[100, 1000],
                        help="records per page, each measured (100,1000: what real APIs mostly serve, and "
                        "what bulk endpoints allow); the last is the main one (BENCH line, latency, RSS)")
    parser.add_argument("--record-bytes", type=int, default=300,
                        help="pad records to about this JSON size (300; an order is ~320 B unpadded)")
    parser.add_argument("--concurrency", type=int, default=8, help="the suite's http.max_concurrency (8)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="end-to-end runs at --records per page size; the median counts (5: a run "
                        "lasts ~2 s, and a small shared VM has slow spells of a few seconds)")
    parser.add_argument("--unknown-page-count", action="store_true",
                        help="serve no page count: clients walk page by page until a short page")
    parser.add_argument("--target-latency-ms", type=float, default=50,
                        help="per-request latency of the latency, windows and reports runs (50)")
    parser.add_argument("--windows", type=int, default=600, help="one-hour windows of the windows run (600)")
    parser.add_argument("--report-items", type=int, default=50, help="fan-out items of the reports run (50)")
    parser.add_argument("--rss-records", type=int, default=1_000_000,
                        help="records of the memory-target end-to-end run (1000000; 0 skips it)")
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt even when it is installed")
    parser.add_argument("--no-airbyte", action="store_true", help="skip Airbyte even when it is installed")
    parser.add_argument("--airbyte-entrypoint", action="store_true",
                        help="run Airbyte through `entrypoint launch read` to /dev/null (slower; to compare)")
    parser.add_argument("--only", type=names, help=f"run only these (comma-separated: {','.join(RUNS)})")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="profile every suite run with py-spy; raw profiles go to DIR (bench/flame.py)")
    return parser.parse_args(argv)


def plan(bench: Bench, options: argparse.Namespace, figures: dict) -> list[tuple[str, object]]:
    """(label, thunk) for every run asked for, in order; each thunk stores its figures."""
    wanted = set(options.only or RUNS)
    wanted -= {name for name, skip in (("dlt", options.no_dlt), ("airbyte", options.no_airbyte)) if skip}
    if not options.rss_records:
        wanted.discard("rss")
    steps: list[tuple[str, object]] = []

    def add(label: str, store, run) -> None:
        steps.append((label, lambda: store(run())))

    if "import" in wanted:
        add("import", lambda r: figures.__setitem__("import", r), bench.cold_import)
    for size in options.page_sizes:
        shape = Shape(options.records, size, options.record_bytes, options.latency_ms,
                      not options.unknown_page_count, options.concurrency)
        if not wanted & {"extract", "airbyte", "e2e", "dlt"}:
            break
        runs = figures["sizes"].setdefault(size, {"shape": shape})
        for key, run in (("extract", lambda s=shape: bench.extract(s)),
                         ("airbyte", lambda s=shape: bench.airbyte(s, options.airbyte_entrypoint)),
                         ("e2e", lambda s=shape: bench.end_to_end(s, options.repeat)),
                         ("dlt", lambda s=shape: bench.dlt(s))):
            if key == "e2e" and {"e2e", "dlt"} <= wanted:  # dlt's run goes between the suite's
                add_bracketed(add, bench, shape, runs, options.repeat)
            elif key in wanted and not (key == "dlt" and "e2e" in wanted):
                add(f"{key} {size}/page", lambda r, k=key, runs=runs: runs.__setitem__(k, r), run)
    main = Shape(options.records, options.page_sizes[-1], options.record_bytes, options.latency_ms,
                 not options.unknown_page_count, options.concurrency)
    if "latency" in wanted:
        latency = replace(main, latency_ms=options.target_latency_ms, known_page_count=True)
        figures.update(latency_ms=options.target_latency_ms, latency_pages=latency.pages,
                       latency_records=latency.records)
        add("latency", lambda r: figures.__setitem__("latency", r), lambda: bench.extract(latency))
    if "windows" in wanted:
        windows = Windows(options.windows, options.target_latency_ms, options.concurrency)
        figures["windows_spec"] = windows
        add("windows", lambda r: figures.__setitem__("windows", r), lambda: bench.windows(windows))
    if "reports" in wanted:
        figures["reports_spec"] = reports = Reports(options.report_items, options.target_latency_ms,
                                                    options.concurrency)
        add("reports", lambda r: figures.__setitem__("reports", r), lambda: bench.reports(reports))
    if "rss" in wanted:
        figures.update(rss_records=options.rss_records, rss_page_size=main.page_size)
        big = replace(main, records=options.rss_records)
        add("rss", lambda r: figures.__setitem__("rss", r), lambda: bench.end_to_end(big))
    return steps


def add_bracketed(add, bench: Bench, shape: Shape, runs: dict, repeat: int) -> None:
    """The end-to-end runs split around dlt's: the ratio compares runs made in the same few
    minutes, as this machine's speed drifts by 15-30% from one minute to the next (a dlt run
    alone takes ~25 s, measured minutes after the suite's would carry that drift)."""
    before, done = (repeat + 1) // 2, []
    size = shape.page_size
    add(f"e2e {size}/page", done.extend, lambda: [bench.one_sync(shape) for _ in range(before)])
    add(f"dlt {size}/page", lambda r: runs.__setitem__("dlt", r), lambda: bench.dlt(shape))
    add(f"e2e {size}/page, after dlt", lambda r: runs.__setitem__("e2e", median_run(done + r)),
        lambda: [bench.one_sync(shape) for _ in range(repeat - before)])


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.profile:
        options.profile.mkdir(parents=True, exist_ok=True)
        os.environ["BENCH_PROFILE_DIR"] = str(options.profile.resolve())
    figures: dict = {"sizes": {}}
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        print("Starting the local stack ...", file=sys.stderr, flush=True)
        bench = Bench(Path(tmp))
        try:
            bench.setup()
            for name, step in plan(bench, options, figures):
                print(f"  {name} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                step()
                print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        except BenchFailure as exc:
            print(f"BENCH FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            bench.close()
    report.print_table(figures)
    found = report.targets(figures)
    report.print_targets(found)
    print(report.bench_line(figures, options.records))
    return 0 if all(met for _, met, _ in found) else 1


if __name__ == "__main__":
    sys.exit(main())
