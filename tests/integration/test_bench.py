"""`make bench` keeps working: a small run end to end, through the real stack. Its figures are
not checked here (tests never assert timings); that every run loads exactly the API's records
is, by the bench itself, which fails loudly otherwise."""

from __future__ import annotations

import subprocess
import sys

from ingestion.contract.settings import ROOT


def test_a_small_bench_runs_every_stage_and_prints_its_machine_readable_line():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--records", "3000", "--page-size", "500", "--no-dlt",
         "--rss-records", "6000", "--repeat", "1", "--target-latency-ms", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert "BENCH FAILED" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a timing target missed on this box
    assert proc.stdout.strip(), proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("BENCH records=3000 e2e_rec_per_s=") and "dlt_rec_per_s=NA" in last
    for run in ("suite: extract only", "suite: end to end (function)", "suite: end to end, 6,000"):
        assert run in proc.stdout
