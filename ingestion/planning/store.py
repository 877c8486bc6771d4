"""JSON documents in GCS updated by compare-and-swap: read with the generation, change, write with
a generation precondition, and on a lost race read again and re-apply the change. State, jobs and
leases are all written this way, so concurrent runs never lose each other's updates."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from google.api_core.exceptions import PreconditionFailed

from ingestion.contract.errors import RetryableError
from utils import gcs_helper

Document = dict[str, Any]


def read_json(bucket: str, path: str) -> tuple[Document | None, int]:
    """(the document, its generation), or (None, 0) when there is none."""
    data, generation = gcs_helper.read(bucket, path)
    return (json.loads(data) if data else None), generation


def write_json(bucket: str, path: str, document: Document, if_generation_match: int) -> int:
    """Write `document` if the object's generation is still `if_generation_match` (0: create only);
    returns the new generation, or raises PreconditionFailed."""
    return gcs_helper.upload(bucket, path, json.dumps(document, indent=1), "application/json",
                             if_generation_match=if_generation_match)


def update_json(bucket: str, path: str, change: Callable[[Document | None], Document],
                what: str, attempts: int = 10,
                known: tuple[Document | None, int] | None = None) -> tuple[Document, int]:
    """Apply `change` (current document, None if absent → new document) until the write wins;
    returns (the document written, its generation). `known` is a version already read, tried
    first. An exception from `change` (a lease held) ends it. Losing `attempts` races in a row is
    retryable: Pub/Sub redelivers and the run tries again later."""
    current, generation = known if known is not None else read_json(bucket, path)
    for _ in range(attempts):
        document = change(current)
        try:
            return document, write_json(bucket, path, document, generation)
        except PreconditionFailed:
            current, generation = read_json(bucket, path)  # theirs first, ours on top
    raise RetryableError(f"could not update {what} after {attempts} concurrent-write retries")
