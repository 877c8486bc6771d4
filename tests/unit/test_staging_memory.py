"""A run whose GCS writes lag holds each object once: a full NDJSON part or raw batch lets go of
its pages before it waits for an upload slot (ParallelUploads.submit blocks while four uploads
are in flight), so the pages are not held a second time, beside the object made of them."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime

from ingestion.model import Page, Slice, Window
from ingestion.rows.rawpages import BATCH_PAGES, RawBatch
from ingestion.rows.stage import PART_BYTES, PartWriter


class LaggingUploads:
    """Stands for ParallelUploads with every slot busy: `submit` is where the caller would
    wait. Records what the writer still held at that moment."""

    def __init__(self, held):
        self.held, self.seen = held, []

    def submit(self, bucket, path, data, content_type, metadata=None) -> Future:
        self.seen.append((path, len(data), self.held()))
        done = Future()
        done.set_result(1)
        return done


def test_a_full_part_lets_go_of_its_rows_before_it_waits_for_an_upload():
    writer = None
    uploads = LaggingUploads(lambda: sum(map(len, writer.chunks)))
    writer = PartWriter(uploads, "bucket", "staged/e/run/step-001")
    row = {"id": 1, "note": "x" * 1000}
    pages = PART_BYTES // (100 * 1010) + 1
    for number in range(1, pages + 1):
        writer.add([row] * 100, number)

    [(path, size, held)] = uploads.seen
    assert path == "staged/e/run/step-001/part-000001.jsonl" and size >= PART_BYTES
    assert held == 0


def test_a_full_raw_batch_lets_go_of_its_pages_before_it_waits_for_an_upload():
    batch = None
    uploads = LaggingUploads(lambda: sum(map(len, batch.bodies)))
    batch = RawBatch(uploads, "bucket", "raw/e/run", ".json")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(1, BATCH_PAGES + 1):
        page = Page(number, Slice(None, Window(at, at)), None, at)
        batch.add(page, b'{"data":[]}', {"url": "u", "status": "200"})

    [(path, size, held)] = uploads.seen
    assert path == "raw/e/run/pages-000001.json" and size > BATCH_PAGES * 11
    assert held == 0
