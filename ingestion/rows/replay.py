"""Replay: pages rebuilt from the raw pages a run stored in GCS, without calling the API.

Every raw page carries its request window, fan-out item, status and fetch time (in its batch's
index, or as the object metadata of a one-object-per-page run: ingestion/rows/rawpages.py), so
replaying it through the current config and schema gives the rows the original run would give with
them: recovery from a bad transform, a dropped table or a schema fix. A page of `deletes.endpoint`
says so (`kind: tombstones`) and is replayed as tombstones again. Pages come in fetch order (run ids
start with their start time, then page numbers), so the later fetch of a record still wins on ties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import parse_instant
from ingestion.contract.errors import PermanentError
from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.rows.rawpages import stored_pages
from ingestion.source.actions import ignores
from ingestion.source.extract import TombstonePage, tombstone_records
from ingestion.source.records import read_page


def replay_pages(entity: EntityConfig, bucket: str, start: datetime | None,
                 end: datetime | None) -> Iterator[Page]:
    """The entity's raw pages whose window overlaps [start, end), as pages again, numbered anew;
    each keeps its run and its lineage URI (the rows' `_run_id`, `_source_object`)."""
    tombstones = entity.deletes is not None and entity.deletes.endpoint is not None
    number = found = 0
    for stored in stored_pages(bucket, f"raw/{entity.name}/", start, end):
        found += 1
        meta, content = stored.metadata, stored.content
        kind = Page if meta.get("kind") != TombstonePage.kind else TombstonePage
        if kind is TombstonePage and not tombstones:
            continue  # the config no longer reads deletes.endpoint
        records_spec = entity.records if kind is Page else tombstone_records(entity)
        status = int(meta["status"])
        if ignores(entity.response_actions, status, content):  # the run took it for no data
            body, records = None, []
        else:
            body, records = read_page(content, status, records_spec, entity.http.empty_statuses, stored.uri)
        window = Window(parse_instant(meta["window_start"]), parse_instant(meta["window_end"]))
        after = json.loads(meta["after"]) if "after" in meta else None
        number += 1
        yield kind(number, Slice(meta.get("item"), window, after),
                   ApiResponse(meta["url"], status, content, body, records, {}),
                   parse_instant(meta["fetched_at"]), run_id=stored.run_id, source=stored.uri)
    if not found:
        window = f" for the window {start or '…'} → {end or '…'}" if start or end else ""
        raise PermanentError(f"replay: gs://{bucket}/raw/{entity.name}/ holds no raw pages{window}; "
                             "nothing to rebuild from")
