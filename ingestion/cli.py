"""Command line: `python -m ingestion validate` (more commands arrive with the deploy issue)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingestion.config import config_files, validate_all
from ingestion.settings import ROOT


def cmd_validate(args: argparse.Namespace) -> int:
    problems = validate_all(args.config_dir, args.schema_dir)
    for problem in problems.values():
        print(f"ERROR {problem}", file=sys.stderr)
    count = len(config_files(args.config_dir))
    print(f"{count} entity config(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate every config and BigQuery schema JSON")
    validate.add_argument("--config-dir", type=Path, default=ROOT / "config")
    validate.add_argument("--schema-dir", type=Path, default=ROOT / "schema")
    validate.set_defaults(func=cmd_validate)
    args = parser.parse_args(argv)
    return args.func(args)

