"""`make demo` itself, in its own process: the real Pub/Sub client publishes, Google's emulator
pushes to functions-framework running functions/main.py, twice over the same persisted data."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from ingestion.contract.settings import ROOT
from local.demo_api import generate


def run_demo(workdir) -> tuple[int, dict[str, int], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "DEMO_"))}
    done = subprocess.run([sys.executable, "-m", "local.demo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**env, "INGEST_DEMO_DIR": str(workdir)})
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\S+): (\d+) rows", done.stdout, re.M)}
    return done.returncode, counts, done.stdout + done.stderr


def test_demo_loads_every_entity_and_a_second_run_keeps_the_counts(tmp_path):
    truth = generate()
    expected = {"local-project.demo_shop.orders": len(truth["orders"]),
                "local-project.demo_shop.customers": len(truth["customers"])}

    first_rc, first, output = run_demo(tmp_path / "demo")
    assert first_rc == 0, output
    assert first == expected
    assert "demo_shop/orders         succeeded" in output

    second_rc, second, output = run_demo(tmp_path / "demo")
    assert second_rc == 0, output
    assert second == expected
    assert re.search(r"demo_shop/orders\s+succeeded\s+pages=\d+ records=(\d+)", output)[1] != str(
        len(truth["orders"]))  # incremental: only the lookback is re-read
