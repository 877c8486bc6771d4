"""The bench's output: the table of runs, each target with its verdict (MET / MISSED), and the one
machine-readable `BENCH ...` line printed last."""

from __future__ import annotations

import os

from bench.beside import describe
from bench.scenarios import POLL_FIRST_S, POLL_MAX_S, Reports, Shape, Windows


def per_s(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def fmt_rate(count: int | None, seconds: float) -> str:
    return f"{per_s(count, seconds):,.0f}" if count else ""


def table_rows(figures: dict) -> list[tuple[str, dict | None, int | None]]:
    rows: list[tuple[str, dict | None, int | None]] = []
    if "import" in figures:
        rows.append(("cold import of functions/main.py", figures["import"], None))
    for size, runs in figures["sizes"].items():
        shape: Shape = runs["shape"]
        version = (runs.get("airbyte") or {}).get("version")
        airbyte = f"Airbyte declarative (CDK {version})" if version else "Airbyte declarative"
        for key, label in (("extract", "suite: extract only"), ("airbyte", airbyte),
                           ("e2e", "suite: end to end (function)"),
                           ("dlt", "dlt rest_api → duckdb, merge")):
            if key in runs:
                rows.append((f"{label}, {size}/page", runs[key], shape.records))
    if "latency" in figures:
        rows.append((f"suite: extract, {figures['latency_ms']:g} ms/page", figures["latency"],
                     figures["latency_records"]))
    if "windows" in figures:
        windows: Windows = figures["windows_spec"]
        rows.append((f"suite: {windows.count} windows, {windows.latency_ms:g} ms, e2e", figures["windows"],
                     windows.events))
    if "reports" in figures:
        reports: Reports = figures["reports_spec"]
        rows.append((f"suite: {reports.items} report jobs, {reports.latency_ms:g} ms, e2e",
                     figures["reports"], reports.rows))
    if "rss" in figures:
        count = figures["rss_records"]
        rows.append((f"suite: end to end, {count:,}", figures["rss"], count))
    return rows


def print_table(figures: dict) -> None:
    shapes = [runs["shape"] for runs in figures["sizes"].values()]
    if shapes:
        shape = shapes[0]
        print(f"\nAPI: {shape.records:,} records of ~{shape.record_bytes} B at "
              f"{' and '.join(f'{s.page_size}/page ({s.pages:,} pages)' for s in shapes)}, page count "
              f"{'known' if shape.known_page_count else 'unknown'}, {shape.latency_ms:g} ms/page; suite "
              f"concurrency {shape.concurrency}")
    print(f"\n{'run':<48}{'seconds':>9}{'records/s':>12}{'peak RSS MB':>13}")
    for label, result, count in table_rows(figures):
        if result is None:
            print(f"{label:<48}{'skipped':>9}")
            continue
        seconds = result.get("run_s", result.get("import_s"))
        rss = f"{result['peak_rss_mb']:,.0f}" if result.get("peak_rss_mb") else ""
        print(f"{label:<48}{seconds:>9.2f}{fmt_rate(count, seconds):>12}{rss:>13}")
    print()
    for size, runs in figures["sizes"].items():
        if e2e := runs.get("e2e"):
            print(f"end to end at {size}/page: runs of {', '.join(map(str, e2e['all_run_s']))} s (the "
                  f"median counts); the first message's imports took {e2e['first_message_import_s']:.2f} s "
                  f"more (not counted, as importing dlt is not); {e2e['run_cpu_s']:.2f} s CPU, "
                  f"{e2e['run_gc_s']:.2f} s of it in the garbage collector"
                  + (f"; meanwhile, on the same {os.cpu_count()} cores, {describe(e2e['beside_cpu_s'])} "
                     "of CPU" if e2e.get("beside_cpu_s") else ""))
        if airbyte := runs.get("airbyte"):
            print(f"Airbyte at {size}/page: airbyte-cdk {airbyte['version']}, {airbyte['how']} (timed from "
                  "the first request to the last record, as the suite's extract-only run)")
    if "windows" in figures:
        windows = figures["windows_spec"]
        print(f"windows: end to end, one `incremental_window` message over {windows.count} one-hour windows "
              f"(date_filter step PT1H), {windows.events:,} events, one request each, http.max_concurrency "
              f"{windows.concurrency}")
    if "reports" in figures:
        reports = figures["reports_spec"]
        print(f"report jobs: end to end, {reports.items} fan_out items, each an async_job ready "
              f"{reports.job_seconds:g} s after its POST (polled after {POLL_FIRST_S:g} s, doubling to "
              f"{POLL_MAX_S:g} s), then {reports.requests_per_item - 2} result pages; ideal = all jobs "
              f"overlapped = {reports.job_seconds:g} s + {reports.items} × {reports.requests_per_item} "
              f"requests (create, one poll, the pages) × {reports.latency_ms:g} ms / concurrency "
              f"{reports.concurrency} = {reports.ideal_s():.2f} s")


def targets(figures: dict) -> list[tuple[str, bool, str]]:
    """(target, met, detail) for each target whose runs were measured."""
    found = []
    for size, runs in figures["sizes"].items():
        records = runs["shape"].records
        if runs.get("e2e") and runs.get("dlt"):
            ratio = per_s(records, runs["e2e"]["run_s"]) / per_s(records, runs["dlt"]["run_s"])
            found.append((f"end to end ≥ 10 × dlt's records/s at {size}/page", ratio >= 10, f"{ratio:.1f} ×"))
        if runs.get("extract") and runs.get("airbyte"):
            ratio = per_s(records, runs["extract"]["run_s"]) / per_s(records, runs["airbyte"]["run_s"])
            found.append((f"extraction ≥ 5 × Airbyte's declarative source at {size}/page", ratio >= 5,
                          f"{ratio:.1f} ×"))
    if lat := figures.get("latency"):
        pages, latency = figures["latency_pages"], figures["latency_ms"] / 1000
        bound = 1.5 * pages * latency / lat["concurrency"] + 2
        found.append((f"extract at {figures['latency_ms']:g} ms/page ≤ 1.5 × pages × latency / concurrency "
                      "+ 2 s", lat["run_s"] <= bound, f"{lat['run_s']:.2f} s ≤ {bound:.2f} s ({pages} pages, "
                      f"concurrency {lat['concurrency']})"))
    if run := figures.get("windows"):
        w: Windows = figures["windows_spec"]
        found.append((f"{w.count} one-hour windows at {w.latency_ms:g} ms ≤ 1.5 × windows × latency / "
                      "concurrency + 2 s", run["run_s"] <= w.bound_s(),
                      f"{run['run_s']:.2f} s ≤ {w.bound_s():.2f} s (end to end)"))
    if run := figures.get("reports"):
        r: Reports = figures["reports_spec"]
        found.append((f"{r.items} report jobs ≤ 1.5 × the ideal overlapped time", run["run_s"] <= r.bound_s(),
                      f"{run['run_s']:.2f} s ≤ {r.bound_s():.2f} s (ideal {r.ideal_s():.2f} s; end to end)"))
    if big := figures.get("rss"):
        found.append((f"peak RSS at {figures['rss_records']:,} < 300 MB", big["peak_rss_mb"] < 300,
                      f"{big['peak_rss_mb']:.0f} MB"))
        small = figures["sizes"].get(figures["rss_page_size"], {}).get("e2e")
        if small:
            growth = big["peak_rss_mb"] / small["peak_rss_mb"] - 1
            found.append((f"… within 20% of its {small_records(figures):,}-record value", growth <= 0.2,
                          f"{small['peak_rss_mb']:.0f} → {big['peak_rss_mb']:.0f} MB ({growth:+.0%})"))
    if imp := figures.get("import"):
        found.append(("cold import < 1 s", imp["import_s"] < 1, f"{imp['import_s']:.2f} s; heavy modules "
                      f"loaded: {', '.join(imp['heavy_modules_loaded']) or 'none'}"))
    return found


def small_records(figures: dict) -> int:
    return figures["sizes"][figures["rss_page_size"]]["shape"].records


def print_targets(found: list[tuple[str, bool, str]]) -> None:
    print()
    for name, met, detail in found:
        print(f"{'MET   ' if met else 'MISSED'}  {name}: {detail}")


def bench_line(figures: dict, records: int) -> str:
    """`BENCH records=… e2e_rec_per_s=…`: the main page size (the last one) unsuffixed, as before,
    then every page size's figures suffixed `_p<size>`, the scenarios and the import."""
    sizes = figures["sizes"]
    parts = [f"records={records}"]
    if sizes:
        runs = sizes[list(sizes)[-1]]
        peak = max([r["peak_rss_mb"] for r in (runs.get("e2e"), figures.get("rss")) if r] or [0])
        parts += [f"e2e_rec_per_s={_rate(runs, 'e2e')}", f"extract_rec_per_s={_rate(runs, 'extract')}",
                  f"peak_rss_mb={peak:.0f}", f"dlt_rec_per_s={_rate(runs, 'dlt')}",
                  f"ratio_vs_dlt={_ratio(runs, 'e2e', 'dlt')}"]
    for size, runs in sizes.items():
        parts += [f"e2e_rec_per_s_p{size}={_rate(runs, 'e2e')}",
                  f"dlt_rec_per_s_p{size}={_rate(runs, 'dlt')}",
                  f"ratio_vs_dlt_p{size}={_ratio(runs, 'e2e', 'dlt')}",
                  f"extract_rec_per_s_p{size}={_rate(runs, 'extract')}",
                  f"airbyte_rec_per_s_p{size}={_rate(runs, 'airbyte')}",
                  f"ratio_vs_airbyte_p{size}={_ratio(runs, 'extract', 'airbyte')}"]
    for key in ("windows", "reports"):
        if run := figures.get(key):
            parts += [f"{key}_s={run['run_s']:.2f}", f"{key}_bound_s={figures[key + '_spec'].bound_s():.2f}"]
    if imp := figures.get("import"):
        parts.append(f"import_s={imp['import_s']:.2f}")
    return "BENCH " + " ".join(parts)


def _rate(runs: dict, key: str) -> str:
    return f"{per_s(runs['shape'].records, runs[key]['run_s']):.0f}" if runs.get(key) else "NA"


def _ratio(runs: dict, key: str, anchor: str) -> str:
    """How many times faster `key` ran than `anchor` (same records)."""
    if not (runs.get(key) and runs.get(anchor)):
        return "NA"
    return f"{runs[anchor]['run_s'] / runs[key]['run_s']:.1f}"
