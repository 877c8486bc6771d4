"""Replay: pages rebuilt from the raw objects a run stored in GCS, without calling the API.

Every raw page carries its request window, fan-out item, status and fetch time as object metadata,
so replaying it through the current config and schema gives the rows the original run would give
with them: recovery from a bad transform, a dropped table or a schema fix. A page of
`deletes.endpoint` says so (`kind: tombstones`) and is replayed as tombstones again. Pages come in fetch
order (run ids start with their start time), so the later fetch of a record still wins on ties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import parse_instant
from ingestion.contract.errors import PermanentError
from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.source.actions import ignores
from ingestion.source.extract import TombstonePage, tombstone_records
from ingestion.source.records import read_page
from utils import gcs_helper

_NEEDED = ("url", "status", "fetched_at", "window_start", "window_end")


def raw_pages(entity: EntityConfig, bucket: str, start: datetime | None,
              end: datetime | None) -> list[tuple[str, dict]]:
    """(path, metadata) of the entity's raw pages whose window overlaps [start, end), in fetch
    order. Objects without the page metadata (not written by this loader) are skipped."""
    found = []
    for path, meta in gcs_helper.list_with_metadata(bucket, f"raw/{entity.name}/"):
        if not all(k in meta for k in _NEEDED):
            continue
        if start and parse_instant(meta["window_end"]) <= start:
            continue
        if end and parse_instant(meta["window_start"]) >= end:
            continue
        found.append((path, meta))
    # raw/<source>/<entity>/<run_id>/page-NNNNNN.<ext>: run ids sort by start time
    return sorted(found, key=lambda entry: entry[0].split("/")[3:5])


def replay_pages(entity: EntityConfig, bucket: str, start: datetime | None,
                 end: datetime | None) -> Iterator[Page]:
    pages = raw_pages(entity, bucket, start, end)
    if not pages:
        window = f" for the window {start or '…'} → {end or '…'}" if start or end else ""
        raise PermanentError(f"replay: gs://{bucket}/raw/{entity.name}/ holds no raw pages{window}; "
                             "nothing to rebuild from")
    tombstones = entity.deletes is not None and entity.deletes.endpoint is not None
    number = 0
    for path, meta in pages:
        kind = Page if meta.get("kind") != TombstonePage.kind else TombstonePage
        if kind is TombstonePage and not tombstones:
            continue  # the config no longer reads deletes.endpoint
        records_spec = entity.records if kind is Page else tombstone_records(entity)
        content, _ = gcs_helper.read(bucket, path)
        uri = gcs_helper.uri(bucket, path)
        status = int(meta["status"])
        if ignores(entity.response_actions, status, content or b""):  # the run took it for no data
            body, records = None, []
        else:
            body, records = read_page(content or b"", status, records_spec, entity.http.empty_statuses, uri)
        window = Window(parse_instant(meta["window_start"]), parse_instant(meta["window_end"]))
        after = json.loads(meta["after"]) if "after" in meta else None
        number += 1
        yield kind(number, Slice(meta.get("item"), window, after),
                   ApiResponse(meta["url"], status, content or b"", body, records, {}),
                   parse_instant(meta["fetched_at"]), run_id=path.split("/")[3], source=uri)
