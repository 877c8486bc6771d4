"""`make bench` keeps working: a small run end to end, through the real stack. Its figures are
not checked here (tests never assert timings); that every run loads exactly the API's records
is, by the bench itself, which fails loudly otherwise."""

from __future__ import annotations

import subprocess
import sys

from ingestion.contract.settings import ROOT


def test_a_small_bench_runs_every_stage_and_prints_its_machine_readable_line():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--records", "3000", "--page-size", "500", "--no-dlt", "--no-airbyte",
         "--rss-records", "6000", "--repeat", "1", "--target-latency-ms", "5", "--windows", "24",
         "--report-items", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert "BENCH FAILED" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a timing target missed on this box
    assert proc.stdout.strip(), proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("BENCH records=3000 e2e_rec_per_s=") and "dlt_rec_per_s=NA" in last
    assert "windows_s=" in last and "reports_s=" in last
    for run in ("suite: extract only, 500/page", "suite: end to end (function), 500/page",
                "suite: end to end, 6,000", "suite: 24 windows, 5 ms, e2e",
                "suite: 3 report jobs, 5 ms, e2e"):
        assert run in proc.stdout
    # what the emulators beside the function took, read from /proc
    e2e = next(line for line in proc.stdout.splitlines() if line.startswith("end to end at 500/page"))
    assert "meanwhile, on the same" in e2e and "bqemulator" in e2e and "fake-gcs-server" in e2e, e2e
    for target in ("24 one-hour windows at 5 ms", "3 report jobs ≤ 1.5 × the ideal", "cold import < 1 s"):
        assert target in proc.stdout
