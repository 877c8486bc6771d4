"""`python -m ingestion <command>`: see ingestion/cli.py."""

from ingestion.cli import main

raise SystemExit(main())
