"""`python -m ingestion scaffold`: the command's body (ingestion/ops/cli.py wires its arguments):
check the arguments, propose from a sample or an OpenAPI document, write or print the files, or
`--update` a schema JSON from the table."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from ingestion.contract.errors import ConfigError, PayloadError


class ScaffoldRefused(Exception):
    """Nothing was written: the reason, for one `ERROR <entity>: ...` line (exit 2)."""


def scaffold(args: argparse.Namespace, config_dir: Path, schema_dir: Path) -> int:
    """Write (or print) the proposals and their review notes."""
    from ingestion.ops.scaffold import dumps, files_of

    if problem := scaffold_usage(args):
        raise ScaffoldRefused(problem)
    if args.update:
        return scaffold_update(args, config_dir, schema_dir)
    source = args.entity.split("/")[0]
    try:
        source_file = config_dir / source / "_source.json"
        existing = json.loads(source_file.read_text()) if source_file.exists() else None
        proposals, skipped = scaffold_proposals(args, existing)
    except (OSError, ValueError) as exc:
        raise ScaffoldRefused(str(exc)) from exc
    files = files_of(proposals, config_dir, schema_dir)
    if args.stdout:
        for path, document in files.items():
            print(f"--- {path}\n{dumps(document)}", end="")
    else:
        clash = [str(p) for p in files if p.exists() and p.name != "_source.json"]
        if clash and not args.force:
            raise ScaffoldRefused(f"{', '.join(clash)} already exist(s); --force overwrites")
        for path, document in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(document))
            print(f"wrote {path}")
    for proposal in proposals:
        prefix = f"{proposal.name}: " if len(proposals) > 1 else ""
        for note in proposal.notes:
            print(f"review: {prefix}{note}")
    for line in skipped:
        print(f"skipped: {line}")
    print(f"next: python -m ingestion validate && python -m ingestion run {proposals[0].name} --local")
    return 0


def scaffold_update(args: argparse.Namespace, config_dir: Path, schema_dir: Path) -> int:
    """`scaffold --update <entity>`: the columns the loader added to its table into its schema JSON."""
    from ingestion.ops.scaffold_update import write_update

    try:
        lines = write_update(args.entity, config_dir, schema_dir, os.environ.get("GOOGLE_CLOUD_PROJECT"),
                             args.stdout)
    except (ConfigError, PayloadError, ValueError) as exc:
        raise ScaffoldRefused(str(exc)) from exc
    print("\n".join(lines))
    return 0


def scaffold_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments: a sample (file or URL) or --openapi, and what goes with each
    (--update: nothing but the entity)."""
    entity = r"[a-z0-9][a-z0-9_-]*"
    if not re.fullmatch(f"{entity}/{entity}" + ("|" + entity if args.openapi else ""), args.entity):
        return ("not <source>/<entity>" + (" or <source>" if args.openapi else "")
                + " (lower case, digits, _ and -)")
    if args.update:
        given = [flag for flag, value in (("a sample", args.sample), ("--openapi", args.openapi),
                                          ("--records-path", args.records_path), ("--header", args.header),
                                          ("--data", args.data), ("--schedule", args.schedule)) if value]
        return f"--update reads the entity's table, it takes no {', '.join(given)}" if given else None
    if (args.sample is None) == (args.openapi is None):
        return "give a sample (a JSON file or an http(s) URL) or --openapi: one of them"
    if args.openapi is None:
        if args.path:
            return "--path picks an endpoint of an --openapi document"
        return "--header takes 'Name: value'" if any(":" not in h for h in args.header) else None
    if args.records_path or args.header or args.data:
        return "--records-path, --header and --data are for a sample, not --openapi"
    if "/" in args.entity and not args.path:
        return "<source>/<entity> names one endpoint: add --path, or give <source> alone"
    return None


def scaffold_proposals(args: argparse.Namespace, existing: dict | None) -> tuple[list, list[str]]:
    from ingestion.ops.scaffold import propose, read_sample, request_data

    if args.openapi:
        from ingestion.ops.scaffold_openapi import propose_openapi

        return propose_openapi(Path(args.openapi), args.entity, args.path, existing, args.schedule)
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
    sample = read_sample(args.sample, dict(headers), request_data(args.data))
    return [propose(args.entity, sample, args.records_path, existing, args.schedule,
                    headers[0] if headers else None)], []
