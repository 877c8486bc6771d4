"""One measured process: `python -m bench.child <what> <json args>` does one thing and prints
one JSON line with its figures. A process each, so peak RSS (`ru_maxrss`) and import cost belong
to that job alone and one job's memory never inflates another's.

    import    time `import main` of functions/main.py (a fresh interpreter: a cold import)
    function  deliver one Pub/Sub push to the function as functions-framework serves it
    extract   walk the API only (fetch + parse pages), no GCS or BigQuery
    dlt       dlt's rest_api source into duckdb with merge on the same API
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_s() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class GcClock:
    """Seconds spent in the garbage collector from now on."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cold_import(_: dict) -> dict:
    start = time.perf_counter()
    sys.path.insert(0, str(ROOT / "functions"))
    import main  # noqa: F401

    heavy = sorted(m for m in ("google.cloud.bigquery", "google.cloud.storage", "google.cloud.pubsub_v1",
                               "google.cloud.secretmanager", "jsonschema", "requests") if m in sys.modules)
    return {"import_s": time.perf_counter() - start, "heavy_modules_loaded": heavy}


def function(args: dict) -> dict:
    """The trigger message through the deployed entry point, as Eventarc pushes it."""
    start = time.perf_counter()
    import functions_framework

    from local.push import pubsub_message, push_envelope, push_headers

    app = functions_framework.create_app("ingest", str(ROOT / "functions/main.py"), "cloudevent")
    imported = time.perf_counter()
    # What the first message imports (the pipeline and the Google clients, loaded lazily): timed
    # apart, so the run measures a warm instance, as dlt's figure excludes importing dlt.
    from ingestion.run.entrypoint import pipeline

    pipeline()

    gc_clock = GcClock()
    warmed, cpu_before, sys_before = time.perf_counter(), cpu_s(), sys_s()
    message = pubsub_message(json.dumps(args["message"]).encode(), args["message_id"])
    body = push_envelope(message, "projects/local-project/subscriptions/bench-push")
    response = app.test_client().post("/", json=body, headers=push_headers(message, args["topic"]))
    return {"import_s": imported - start, "first_message_import_s": warmed - imported,
            "run_s": time.perf_counter() - warmed, "run_cpu_s": cpu_s() - cpu_before,
            "run_sys_s": sys_s() - sys_before, "run_gc_s": gc_clock.seconds,
            "http_status": response.status_code, "peak_rss_mb": peak_rss_mb()}


def extract(args: dict) -> dict:
    """Fetch and parse every page of one window: the extraction path of a sync, nothing staged."""
    from datetime import UTC, datetime

    from ingestion.contract.config import load_entity
    from ingestion.contract.settings import Settings
    from ingestion.model import Slice, Window
    from ingestion.run.pipeline import connect
    from ingestion.source.extract import extract_pages
    from ingestion.source.fetch import open_session

    settings = Settings.from_env()
    entity = load_entity(args["entity"], settings.config_dir, settings.schema_dir)
    window = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    with open_session(entity.http) as session:
        fetcher = connect(entity, settings, session)
        start, cpu_before, sys_before = time.perf_counter(), cpu_s(), sys_s()
        pages = records = 0
        for page in extract_pages(entity, [Slice(None, window)], fetcher):
            pages, records = pages + 1, records + len(page.records)
        elapsed = time.perf_counter() - start
    return {"run_s": elapsed, "run_cpu_s": cpu_s() - cpu_before, "run_sys_s": sys_s() - sys_before,
            "pages": pages, "records": records,
            "concurrency": fetcher.concurrency, "peak_rss_mb": peak_rss_mb()}


def dlt_run(args: dict) -> dict:
    """dlt 1.x `rest_api` → duckdb, merge on id: what a team would write instead of a config."""
    workdir = Path(args["workdir"])
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt-data")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    paginator = {"type": "page_number", "page_param": "page", "base_page": 1}
    if args["known_page_count"]:
        paginator["total_path"] = "meta.total_pages"
    else:
        paginator.update(total_path=None, stop_after_empty_page=True)
    source = rest_api_source({
        "client": {"base_url": args["base_url"], "paginator": paginator,
                   "auth": {"type": "api_key", "name": "X-API-Key", "api_key": args["api_key"],
                            "location": "header"}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [{"name": "items", "endpoint": {
            "path": args["path"], "params": {"per_page": args["page_size"]}, "data_selector": "data"}}],
    })
    pipeline = dlt.pipeline(pipeline_name="bench", pipelines_dir=str(workdir / "pipelines"),
                            destination=dlt.destinations.duckdb(str(workdir / "dlt.duckdb")),
                            dataset_name="items_data")
    start = time.perf_counter()
    pipeline.run(source)
    elapsed = time.perf_counter() - start
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM items")[0][0]
    return {"run_s": elapsed, "rows": rows, "peak_rss_mb": peak_rss_mb()}


JOBS = {"import": cold_import, "function": function, "extract": extract, "dlt": dlt_run}


if __name__ == "__main__":
    result = JOBS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print("RESULT " + json.dumps(result), flush=True)
