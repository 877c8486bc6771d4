"""Command line: `python -m ingestion <command>` (`make help` lists the make targets around it).

    validate   every config and BigQuery schema JSON (exit 1 on any problem, naming file and field)
    run        one sync in-process: against the local stack (--local) or wherever the environment
               points (real GCP through application default credentials)
    publish    send a validated trigger message with google-cloud-pubsub, print the gcloud equivalent;
               --local: have the function on the local stack process it, print its runs
    scaffold   propose config + schema JSON from a sample API response (file or URL) or an
               OpenAPI 3 document; --update: add the columns the loader added to a table
    gaps       list the windows never loaded; --publish sends the backfills (--local: local stack)
    manifest   what the configs ask of a project (datasets, secrets, schedules, env, freshness
               objectives): read by deploy/; `manifest dbt`: a dbt sources file of every table
    status     per entity: fresh (OK), LATE, NEVER run or FAILING, from the run ledger; --json;
               --html FILE [--days N]: the status page;
               --create-view / --view-sql: the BigQuery view entity_status with the same facts

Errors are one line each on stderr, `ERROR <entity>: <cause>`, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import uuid
from collections.abc import Collection, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion.contract.config import config_files, load_entity, validate_all
from ingestion.contract.envrefs import ALL_FIELDS, API_FIELDS, scan
from ingestion.contract.errors import ConfigError, IngestError, PayloadError
from ingestion.contract.redact import redact
from ingestion.contract.settings import ROOT, Settings
from ingestion.ops.manifest import SCHEDULE_PREFIX

if TYPE_CHECKING:
    from local.stack import LocalStack


def config_dir() -> Path:
    return Path(os.environ.get("INGEST_CONFIG_DIR", ROOT / "config"))


def schema_dir() -> Path:
    return Path(os.environ.get("INGEST_SCHEMA_DIR", ROOT / "schema"))


def fail(message: str, code: int = 2) -> int:
    print(f"ERROR {redact(message)}", file=sys.stderr)
    return code


def describe(exc: BaseException) -> str:
    """An error as one line: ours say what went wrong; anything else is named by its type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, IngestError) else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def local_stack() -> Iterator[LocalStack]:
    """The persistent local stack of `make demo` (.local/demo), the environment pointed at it."""
    from local.session import demo_workdir
    from local.stack import local_session

    workdir = demo_workdir()
    print(f"Starting the local stack in {workdir} ...", file=sys.stderr, flush=True)
    with local_session(workdir) as stack:
        yield stack


def cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_all(args.config_dir, args.schema_dir)
    for problem in problems.values():
        print(f"ERROR {problem}", file=sys.stderr)
    warnings = unset_warnings(args.config_dir)
    for warning in warnings:
        print(warning, file=sys.stderr)
    count = len(config_files(args.config_dir))
    print(f"{count} entity config(s) checked, {len(problems)} problem(s)"
          + (f", {len(warnings)} warning(s)" if warnings else ""))
    return 1 if problems else 0


def unset_warnings(directory: Path) -> list[str]:
    """One `WARNING <file>: ${NAME} is not set (...)` per variable a file reads and this machine
    lacks: a workstation need not have the deployment's values."""
    fields: dict[tuple[Path, str], list[str]] = {}
    for ref in scan(directory):
        if ref.missing:
            fields.setdefault((ref.file, ref.name), []).append(ref.field)
    return [f"WARNING {file}: ${{{name}}} is not set ({', '.join(dict.fromkeys(used))}; checked "
            f"with a placeholder: `run`, the function and the deploy need it)"
            for (file, name), used in fields.items()]


def message_from(args: argparse.Namespace, allow_unset: Collection[str] = ()) -> dict:
    """The trigger message the arguments describe, validated as the function would (the entity
    must have a valid config here too; `allow_unset`: see `load_entity`)."""
    from ingestion.contract.payload import parse_request

    message: dict = {"entity": args.entity, "sync_mode": args.mode}
    for key, value in (("start_date", args.start), ("end_date", args.end), ("item", args.item),
                       ("parallel", getattr(args, "parallel", None))):
        if value is not None:
            message[key] = value
    parse_request(message)
    load_entity(args.entity, config_dir(), schema_dir(), allow_unset)
    return message


def cmd_run(args: argparse.Namespace) -> int:
    """One sync in this process, with a progress display."""
    try:
        message = message_from(args)
    except (PayloadError, ConfigError) as exc:
        return fail(f"{args.entity}: {exc}")
    if not args.local:
        return run_message(message)
    with local_stack():
        return run_message(message)


def run_message(message: dict, settings: Settings | None = None) -> int:
    """Run the message's job to the end in this process: each time the time budget is spent the
    job continues here, in a new run with a fresh lease (as the function would in a new message),
    so a long backfill never holds a lease longer than a function run would."""
    from ingestion.contract import logs
    from ingestion.contract.payload import continuation_payload, parse_request
    from ingestion.ops.progress import ProgressDisplay
    from ingestion.run.pipeline import run_sync

    logs.configure()
    settings = settings or replace(Settings.from_env(), config_dir=config_dir(),
                                   schema_dir=schema_dir(), trigger_topic="")
    request = parse_request(message, message_id=f"cli-{uuid.uuid4().hex[:16]}")  # its own job
    progress, runs = ProgressDisplay(), []
    try:
        while not runs or runs[-1].status == "continued":
            if runs:
                request = parse_request(continuation_payload(request, runs[-1].job_id),
                                        message_id=request.message_id)
            runs.append(run_sync(request, settings, progress=progress))
    except Exception as exc:
        return fail(f"{request.entity}: sync failed: {type(exc).__name__}: {' '.join(str(exc).split())}",
                    code=1)
    finally:
        progress.finish()
    entity = load_entity(request.entity, settings.config_dir, settings.schema_dir)
    last = runs[-1]
    watermark = max((r.watermark for r in runs if r.watermark), default=None) or next(
        (r.watermark_value for r in reversed(runs) if r.watermark_value), None)
    print(f"{request.entity}: {last.status}: {sum(r.pages for r in runs)} pages, "
          f"{sum(r.records for r in runs)} records, {sum(r.rejected for r in runs)} rejected, "
          f"{sum(r.rows_merged for r in runs)} rows merged, {sum(r.rows_deleted for r in runs)} "
          f"deleted{filtered_note(runs)} in {len(runs)} run(s), watermark {watermark or 'unchanged'} → "
          f"{settings.project}.{entity.target.dataset}.{entity.target.table}")
    return 0


def filtered_note(runs: list) -> str:
    """`, N filtered`, for an entity that leaves records out on purpose (records.filters, or outside
    the window: incremental.client_filter)."""
    filtered = sum(r.filtered for r in runs)
    return f", {filtered} filtered (not loaded on purpose)" if filtered else ""


def cmd_publish(args: argparse.Namespace) -> int:
    try:  # the config's ${NAME}s are the function's business: its environment has them, not this one
        message = message_from(args, ALL_FIELDS)
    except (PayloadError, ConfigError) as exc:
        return fail(f"{args.entity}: {exc}")
    topic = args.topic or os.environ.get("INGEST_TRIGGER_TOPIC", Settings.trigger_topic)
    if args.local:
        if args.project or args.print_only:
            return fail(f"{args.entity}: --local publishes to the local stack: no --project, --print-only")
        with local_stack() as stack:
            return process_locally(args.entity, stack, topic, [message])
    project = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        return fail(f"{args.entity}: no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    body = json.dumps(message, separators=(",", ":"))
    print("equivalent: " + shlex.join(["gcloud", "pubsub", "topics", "publish", topic,
                                        "--project", project, "--message", body]))
    if args.print_only:
        return 0
    from google.api_core.exceptions import NotFound

    from utils import pubsub_helper

    try:
        message_id = pubsub_helper.publish_json(project, topic, message)
    except NotFound as exc:  # the emulator's 404 does not name the topic; say which one
        path = pubsub_helper.topic_path(project, topic)
        return fail(f"{args.entity}: NotFound: topic {path} does not exist ({' '.join(str(exc).split())})",
                    code=1)
    print(f"published message {message_id} to projects/{project}/topics/{topic}: {body}")
    return 0


def process_locally(subject: str, stack: LocalStack, topic: str, messages: list[dict]) -> int:
    """Have the function on the local stack process `messages` and all they lead to; exit 0 when
    no run of theirs ended in failure."""
    from local import session

    session.serve_topic(stack, topic)
    problem = session.process(stack, topic, messages)
    return fail(f"{subject}: {problem}", code=1) if problem else 0


def cmd_scaffold(args: argparse.Namespace) -> int:
    from ingestion.ops.scaffold_command import ScaffoldRefused, scaffold

    try:
        return scaffold(args, config_dir(), schema_dir())
    except ScaffoldRefused as exc:
        return fail(f"{args.entity}: {exc}")


def cmd_gaps(args: argparse.Namespace) -> int:
    """List the windows never loaded; with --publish, send one backfill message per gap."""
    if not args.local:
        return report_gaps(args, None)
    with local_stack() as stack:
        return report_gaps(args, stack)


def report_gaps(args: argparse.Namespace, stack: LocalStack | None) -> int:
    """Every entity named (default: all), each on its own: one that cannot be read is an ERROR
    line, the others are still listed. Reading gaps calls no API: `${NAME}`s only API calls use
    may be unset here."""
    from ingestion.planning.gaps import publish_gaps, survey, total

    settings = Settings.from_env()
    names, gaps, errors = args.entity or list(config_files(settings.config_dir)), [], 0
    for name in names:
        try:
            found = survey(load_entity(name, settings.config_dir, settings.schema_dir, API_FIELDS),
                           settings)
        except Exception as exc:
            errors += 1
            fail(f"{name}: {describe(exc)}")
            continue
        for line in found.lines():
            print(line, flush=True)
        gaps += found.gaps
    print(f"{len(gaps)} gap(s), {total(gaps)} in all", flush=True)
    if args.publish and gaps and stack is not None:
        errors += process_locally("gaps", stack, settings.trigger_topic, [g.message() for g in gaps])
    elif args.publish and gaps:
        ids = publish_gaps(gaps, settings)
        print(f"published {len(ids)} backfill message(s) to {settings.trigger_topic}")
    return 1 if errors else 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from ingestion.ops.manifest import lines

    try:
        for line in lines(args.kind, config_dir(), schema_dir(), args.prefix, args.project):
            print(line)
    except (PayloadError, ConfigError) as exc:
        return fail(str(exc))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Argument wiring only: ingestion/ops/status_report.py does the work."""
    from ingestion.ops import status_report

    project = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        return fail("status: no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    settings = Settings(project=project, bucket=os.environ.get("INGEST_BUCKET", ""),
                        meta_dataset=args.meta_dataset or os.environ.get("INGEST_META_DATASET",
                                                                         Settings.meta_dataset),
                        config_dir=config_dir(), schema_dir=schema_dir(),
                        location=os.environ.get("INGEST_BQ_LOCATION", Settings.location))
    if args.create_view or args.view_sql:
        return status_report.view(settings, print_sql=args.view_sql)
    if args.html:
        from ingestion.ops.status_html import write_page

        return write_page(settings, args.entity or None, Path(args.html), args.days)
    return status_report.report(settings, args.entity or None, args.json)


def add_message_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entity", help="<source>/<entity>, as in config/<source>/<entity>.json")
    parser.add_argument("--mode", default="incremental",
                        choices=["incremental", "incremental_window", "historical_full", "replay"])
    parser.add_argument("--start", help="start_date (ISO date or datetime)")
    parser.add_argument("--end", help="end_date (ISO date or datetime; a date means its end)")
    parser.add_argument("--item", help="fan-out entities: this item only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="validate every config and BigQuery schema JSON")
    validate.add_argument("--config-dir", type=Path, default=config_dir())
    validate.add_argument("--schema-dir", type=Path, default=schema_dir())
    validate.set_defaults(func=cmd_validate)

    run = sub.add_parser("run", help="one sync in this process, with progress")
    add_message_args(run)
    run.add_argument("--local", action="store_true",
                     help="start the local stack of `make demo` (.local/demo) for this run; "
                          "credentials come from .local/secrets.json")
    run.set_defaults(func=cmd_run)

    publish = sub.add_parser("publish", help="publish a validated trigger message")
    add_message_args(publish)
    publish.add_argument("--parallel", type=int, help="fan a backfill out into this many messages")
    publish.add_argument("--project", help="default: $GOOGLE_CLOUD_PROJECT")
    publish.add_argument("--topic", help="default: $INGEST_TRIGGER_TOPIC or ingest-trigger")
    publish.add_argument("--print-only", action="store_true", help="only print the gcloud command")
    publish.add_argument("--local", action="store_true",
                         help="publish on the local stack of `make demo` (.local/demo), have the "
                              "function process it and everything it leads to, print the runs")
    publish.set_defaults(func=cmd_publish)

    scaffold = sub.add_parser("scaffold", help="propose config + schema JSON from a sample response "
                                               "or an OpenAPI 3 document")
    scaffold.add_argument("entity", help="<source>/<entity> to create (with --openapi: or <source>)")
    scaffold.add_argument("sample", nargs="?", help="a JSON file, or an http(s) URL to GET")
    scaffold.add_argument("--openapi", metavar="SPEC", help="an OpenAPI 3 document (JSON; YAML with "
                                                           "PyYAML): one proposal per list endpoint")
    scaffold.add_argument("--path", help="with --openapi: only this path (e.g. /v1/customers)")
    scaffold.add_argument("--records-path", help="path of the records (default: guessed)")
    scaffold.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                          help="request header for a URL sample (not stored)")
    scaffold.add_argument("--data", metavar="JSON", help="POST this JSON body (or @file) to the URL "
                                                         "instead of a GET: a GraphQL query")
    scaffold.add_argument("--schedule", metavar="CRON", help="add a Cloud Scheduler schedule")
    scaffold.add_argument("--update", action="store_true",
                          help="write the columns the loader added to the entity's table "
                               "(schema.on_new_field add_column) into its schema JSON, for review")
    scaffold.add_argument("--stdout", action="store_true", help="print instead of writing files")
    scaffold.add_argument("--force", action="store_true", help="overwrite existing files")
    scaffold.set_defaults(func=cmd_scaffold)

    gaps = sub.add_parser("gaps", help="list the windows never loaded (from the state in GCS); "
                                       "--publish sends the backfill messages for exactly those")
    gaps.add_argument("entity", nargs="*", help="<source>/<entity> (default: every config)")
    gaps.add_argument("--publish", action="store_true")
    gaps.add_argument("--local", action="store_true",
                      help="read the state of the local stack of `make demo`; with --publish, have "
                           "the function there process the backfills and print their runs")
    gaps.set_defaults(func=cmd_gaps)

    manifest = sub.add_parser("manifest", help="datasets, secrets, schedules, environment "
                                               "variables or freshness objectives (seconds) the "
                                               "configs need (tab-separated; read by deploy/), "
                                               "or dbt: a dbt sources file (YAML)")
    manifest.add_argument("kind", choices=["datasets", "secrets", "schedules", "env", "objectives", "dbt"])
    manifest.add_argument("--prefix", default=SCHEDULE_PREFIX, help="Cloud Scheduler job id prefix")
    manifest.add_argument("--project", help="dbt: the sources' database (a project id, or Jinja such as "
                                            "\"{{ env_var('RAW_PROJECT') }}\"); default: the dbt target's")
    manifest.set_defaults(func=cmd_manifest)

    status = sub.add_parser("status", help="freshness per entity (OK, LATE, NEVER, FAILING) from the "
                                           "run ledger; exit 1 when one needs attention")
    status.add_argument("entity", nargs="*", help="<source>/<entity> (default: every config)")
    status.add_argument("--json", action="store_true", help="the same facts as JSON")
    status.add_argument("--project", help="default: $GOOGLE_CLOUD_PROJECT")
    status.add_argument("--meta-dataset",
                        help="the run ledger's dataset (default: $INGEST_META_DATASET or ingest_meta)")
    status.add_argument("--create-view", action="store_true",
                        help="create or replace the view <meta-dataset>.entity_status (every config)")
    status.add_argument("--view-sql", action="store_true",
                        help="print the statements --create-view runs, for `bq query` (the deploy)")
    status.add_argument("--html", metavar="FILE",
                        help="write the status page instead: one self-contained HTML file, per entity "
                             "its state and a chart of its runs (records, duration, failures)")
    status.add_argument("--days", type=int, default=14, help="--html: days of runs charted (default 14)")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # one line naming what failed, never a traceback
        subject = args.entity if isinstance(getattr(args, "entity", None), str) else args.command
        return fail(f"{subject}: {describe(exc)}", code=1)
