"""`python -m ingestion <command>`: see ingestion/ops/cli.py."""

from ingestion.ops.cli import main

raise SystemExit(main())
