"""Cloud Function (gen2) entry point: a Pub/Sub-triggered CloudEvent function.

Deploy with `--entry-point ingest`; the trigger message is documented in docs/config.md.
"""

import sys
from pathlib import Path

# Deployed, this file sits at the bundle root next to `ingestion/` and `utils/`. From a checkout it
# is functions/main.py, so put the repository root on the path for `functions-framework --source`.
_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "ingestion").is_dir() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import functions_framework  # noqa: E402

from ingestion.contract import logs  # noqa: E402
from ingestion.run.entrypoint import cap_malloc_arenas, handle_pubsub_envelope  # noqa: E402

logs.configure()
cap_malloc_arenas()  # before the server starts the threads that handle messages


@functions_framework.cloud_event
def ingest(cloud_event) -> None:
    handle_pubsub_envelope(cloud_event.data)
