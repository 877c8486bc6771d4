"""Command line: `python -m ingestion validate | gaps` (more commands arrive with the deploy issue)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingestion.config import config_files, load_entity, validate_all
from ingestion.settings import ROOT, Settings


def cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_all(args.config_dir, args.schema_dir)
    for problem in problems.values():
        print(f"ERROR {problem}", file=sys.stderr)
    count = len(config_files(args.config_dir))
    print(f"{count} entity config(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate every config and BigQuery schema JSON")
    validate.add_argument("--config-dir", type=Path, default=ROOT / "config")
    validate.add_argument("--schema-dir", type=Path, default=ROOT / "schema")
    validate.set_defaults(func=cmd_validate)
    gaps = sub.add_parser("gaps", help="list the windows never loaded (from the state in GCS); "
                                       "--publish sends the backfill messages for exactly those")
    gaps.add_argument("entity", nargs="*", help="<source>/<entity> (default: every config)")
    gaps.add_argument("--publish", action="store_true")
    gaps.set_defaults(func=cmd_gaps)
    args = parser.parse_args(argv)
    return args.func(args)

