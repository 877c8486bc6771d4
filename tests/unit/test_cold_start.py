"""Importing the function module (a cold start) loads none of the heavy client libraries: they are
imported by the first message. Timings are the benchmark's business (`make bench`); this checks
the property that makes the import fast, and that the first message still works."""

from __future__ import annotations

import json
import subprocess
import sys

from ingestion.contract.settings import ROOT

HEAVY = ["google.cloud.bigquery", "google.cloud.storage", "google.cloud.pubsub_v1",
         "google.cloud.secretmanager", "jsonschema", "orjson"]


def test_importing_the_function_module_loads_no_client_library():
    code = ("import json, sys; sys.path.insert(0, 'functions'); import main; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.splitlines()[-1]) == []
