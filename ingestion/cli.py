"""Command line: `python -m ingestion <command>` (`make help` lists the make targets around it).

    validate   every config and BigQuery schema JSON (exit 1 on any problem, naming file and field)
    run        one sync in-process: against the local stack (--local) or wherever the environment
               points (real GCP through application default credentials)
    publish    send a validated trigger message with google-cloud-pubsub, print the gcloud equivalent
    scaffold   propose config + schema JSON from a sample API response (file or URL)
    gaps       list the windows never loaded; --publish sends the backfills
    manifest   what the configs ask of a project (datasets, secrets, schedules): read by deploy/
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import uuid
from dataclasses import replace
from pathlib import Path

from ingestion.config import config_files, load_entity, validate_all
from ingestion.errors import ConfigError, PayloadError
from ingestion.manifest import SCHEDULE_PREFIX
from ingestion.settings import ROOT, Settings


def config_dir() -> Path:
    return Path(os.environ.get("INGEST_CONFIG_DIR", ROOT / "config"))


def schema_dir() -> Path:
    return Path(os.environ.get("INGEST_SCHEMA_DIR", ROOT / "schema"))


def fail(message: str, code: int = 2) -> int:
    print(f"ERROR {message}", file=sys.stderr)
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_all(args.config_dir, args.schema_dir)
    for problem in problems.values():
        print(f"ERROR {problem}", file=sys.stderr)
    count = len(config_files(args.config_dir))
    print(f"{count} entity config(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def message_from(args: argparse.Namespace) -> dict:
    """The trigger message the arguments describe, validated as the function would (the entity
    must have a valid config here too)."""
    from ingestion.payload import parse_request

    message: dict = {"entity": args.entity, "sync_mode": args.mode}
    for key, value in (("start_date", args.start), ("end_date", args.end), ("item", args.item),
                       ("parallel", getattr(args, "parallel", None))):
        if value is not None:
            message[key] = value
    parse_request(message)
    load_entity(args.entity, config_dir(), schema_dir())
    return message


def cmd_run(args: argparse.Namespace) -> int:
    """One sync in this process, with a progress display."""
    try:
        message = message_from(args)
    except (PayloadError, ConfigError) as exc:
        return fail(f"{args.entity}: {exc}")
    if not args.local:
        return run_message(message)
    from local.stack import local_session

    workdir = Path(os.environ.get("INGEST_DEMO_DIR", ROOT / ".local/demo")).resolve()
    print(f"Starting the local stack in {workdir} ...", file=sys.stderr, flush=True)
    with local_session(workdir):
        return run_message(message)


def run_message(message: dict, settings: Settings | None = None) -> int:
    """Run the message's job to the end in this process: each time the time budget is spent the
    job continues here, in a new run with a fresh lease (as the function would in a new message),
    so a long backfill never holds a lease longer than a function run would."""
    from ingestion import logs
    from ingestion.payload import continuation_payload, parse_request
    from ingestion.pipeline import run_sync
    from ingestion.progress import ProgressDisplay

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
        return fail(f"{request.entity}: sync failed: {type(exc).__name__}: {exc}", code=1)
    finally:
        progress.finish()
    entity = load_entity(request.entity, settings.config_dir, settings.schema_dir)
    last, watermark = runs[-1], max((r.watermark for r in runs if r.watermark), default=None)
    print(f"{request.entity}: {last.status}: {sum(r.pages for r in runs)} pages, "
          f"{sum(r.records for r in runs)} records, {sum(r.rejected for r in runs)} rejected, "
          f"{sum(r.rows_merged for r in runs)} rows merged, {sum(r.rows_deleted for r in runs)} "
          f"deleted in {len(runs)} run(s), watermark {watermark or 'unchanged'} → "
          f"{settings.project}.{entity.target['dataset']}.{entity.target['table']}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    try:
        message = message_from(args)
    except (PayloadError, ConfigError) as exc:
        return fail(f"{args.entity}: {exc}")
    project = args.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        return fail("no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    topic = args.topic or os.environ.get("INGEST_TRIGGER_TOPIC", Settings.trigger_topic)
    body = json.dumps(message, separators=(",", ":"))
    print("equivalent: " + shlex.join(["gcloud", "pubsub", "topics", "publish", topic,
                                        "--project", project, "--message", body]))
    if args.print_only:
        return 0
    from utils import pubsub_helper

    message_id = pubsub_helper.publish_json(project, topic, message)
    print(f"published message {message_id} to projects/{project}/topics/{topic}: {body}")
    return 0


def cmd_scaffold(args: argparse.Namespace) -> int:
    from ingestion.scaffold import dumps, propose

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*", args.entity):
        return fail(f"{args.entity}: not <source>/<entity> (lower case, digits, _ and -)")
    if any(":" not in header for header in args.header):
        return fail(f"{args.entity}: --header takes 'Name: value'")
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
    source, entity = args.entity.split("/")
    try:
        body = read_sample(args.sample, dict(headers))
        source_file = config_dir() / source / "_source.json"
        existing = json.loads(source_file.read_text()) if source_file.exists() else None
        proposal = propose(args.entity, body, args.records_path, args.sample, existing, args.schedule,
                           headers[0] if headers else None)
    except (OSError, ValueError) as exc:
        return fail(f"{args.entity}: {exc}")
    files = {config_dir() / source / f"{entity}.json": proposal.config,
             schema_dir() / source / f"{entity}.json": proposal.schema}
    if proposal.source:
        files[config_dir() / source / "_source.json"] = proposal.source
    if args.stdout:
        for path, document in files.items():
            print(f"--- {path}\n{dumps(document)}", end="")
    else:
        clash = [str(p) for p in files if p.exists() and p.name != "_source.json"]
        if clash and not args.force:
            return fail(f"{args.entity}: {', '.join(clash)} already exist(s); --force overwrites")
        for path, document in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(document))
            print(f"wrote {path}")
    for note in proposal.notes:
        print(f"review: {note}")
    print(f"next: python -m ingestion validate && python -m ingestion run {args.entity} --local")
    return 0


def read_sample(sample: str, headers: dict[str, str]) -> object:
    """A sample response body from a file or an http(s) URL (headers such as credentials are
    used for the request only, never written anywhere)."""
    if sample.startswith(("http://", "https://")):
        import requests

        response = requests.get(sample, headers=headers, timeout=30)
        if not response.ok:
            raise ValueError(f"GET {sample} answered HTTP {response.status_code}")
        return response.json()
    return json.loads(Path(sample).read_text())


def cmd_gaps(args: argparse.Namespace) -> int:
    """List the windows never loaded; with --publish, send one backfill message per gap."""
    from datetime import UTC, datetime

    from ingestion.gaps import find_gaps, publish_gaps, total

    settings = Settings.from_env()
    names = args.entity or list(config_files(settings.config_dir))
    gaps = [gap for name in names for gap in find_gaps(
        load_entity(name, settings.config_dir, settings.schema_dir), settings, datetime.now(UTC))]
    for gap in gaps:
        print(gap)
    print(f"{len(gaps)} gap(s), {total(gaps)} in all")
    if args.publish and gaps:
        ids = publish_gaps(gaps, settings)
        print(f"published {len(ids)} backfill message(s) to {settings.trigger_topic}")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from ingestion.manifest import lines

    try:
        for line in lines(args.kind, config_dir(), schema_dir(), args.prefix):
            print(line)
    except (PayloadError, ConfigError) as exc:
        return fail(str(exc))
    return 0


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
    publish.set_defaults(func=cmd_publish)

    scaffold = sub.add_parser("scaffold", help="propose config + schema JSON from a sample response")
    scaffold.add_argument("entity", help="<source>/<entity> to create")
    scaffold.add_argument("sample", help="a JSON file, or an http(s) URL to GET")
    scaffold.add_argument("--records-path", help="dotted path of the records (default: guessed)")
    scaffold.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                          help="request header for a URL sample (not stored)")
    scaffold.add_argument("--schedule", metavar="CRON", help="add a Cloud Scheduler schedule")
    scaffold.add_argument("--stdout", action="store_true", help="print instead of writing files")
    scaffold.add_argument("--force", action="store_true", help="overwrite existing files")
    scaffold.set_defaults(func=cmd_scaffold)

    gaps = sub.add_parser("gaps", help="list the windows never loaded (from the state in GCS); "
                                       "--publish sends the backfill messages for exactly those")
    gaps.add_argument("entity", nargs="*", help="<source>/<entity> (default: every config)")
    gaps.add_argument("--publish", action="store_true")
    gaps.set_defaults(func=cmd_gaps)

    manifest = sub.add_parser("manifest", help="datasets, secrets or schedules the configs need "
                                               "(tab-separated; read by deploy/)")
    manifest.add_argument("kind", choices=["datasets", "secrets", "schedules"])
    manifest.add_argument("--prefix", default=SCHEDULE_PREFIX, help="Cloud Scheduler job id prefix")
    manifest.set_defaults(func=cmd_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
