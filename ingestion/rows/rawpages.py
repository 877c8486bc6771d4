"""Raw pages in GCS: written several to an object, read back in either layout.

A batch object `raw/<source>/<entity>/<run_id>/pages-<first page 6d><suffix>` holds its pages'
bodies back to back, byte-exact as received (scrubbed unless compressed), then its index: a JSON
document `{"format", "pages": [{"number", "offset", "length", "url", "status", "fetched_at",
"window_start", "window_end"[, "item", "after", "kind"]}]}` whose values are the page's metadata as
one-object-per-page runs stored it (redacted the same way). The object's custom metadata says where
the index lies (`index_offset`, `index_length`) and carries `format`, the page count (`pages`), the
earliest `window_start` and the latest `window_end` of its pages: a replay skips objects outside its
window from the listing alone. A page's lineage URI names its object, number and inclusive byte
range: `gs://B/raw/…/pages-000001.json#page=3&bytes=1234-5677` (`gcloud storage cat -r 1234-5677`
prints that page; an empty body's range is empty: end = start − 1).

Older runs stored one object per page (`…/<run_id>/page-NNNNNN<suffix>`, the same fields as custom
metadata). `stored_pages` reads both, in fetch order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ingestion.contract.dates import parse_instant, to_rfc3339
from ingestion.contract.redact import redact
from ingestion.model import Page
from ingestion.source.extract import TombstonePage
from utils import gcs_helper

FORMAT = "raw-pages/1"
BATCH_BYTES = 4 * 2**20  # bodies per object: one write per batch, well under the one-request upload
BATCH_PAGES = 500
CONTENT_TYPE = "application/octet-stream"
PAGE_FIELDS = ("url", "status", "fetched_at", "window_start", "window_end")  # + item, after, kind
_NUMBER = re.compile(r"/pages?-(\d+)[^/]*$")


def page_metadata(page: Page) -> dict[str, str]:
    """What a replay needs to rebuild the page, what came from outside (the URL, the item, the
    cursor) redacted as every text that leaves the process; the times and status are our own."""
    response = page.response
    metadata = {
        "url": redact(response.url), "status": str(response.status),
        "fetched_at": to_rfc3339(page.fetched_at),
        "window_start": to_rfc3339(page.window.start), "window_end": to_rfc3339(page.window.end),
    }
    if page.slice.item is not None:
        metadata["item"] = redact(str(page.slice.item))
    if page.slice.after is not None:  # the watermark an integer/string cursor continued from
        metadata["after"] = redact(json.dumps(page.slice.after))
    if isinstance(page, TombstonePage):  # replay reads it as tombstones again
        metadata["kind"] = page.kind
    return metadata


class RawBatch:
    """The raw pages of one step, BATCH_PAGES or about BATCH_BYTES to an object. `add` returns the
    page's lineage URI at once; `flush` (at the end of every step) submits what is left. The
    caller's uploads must all be done before any row naming a page is loaded."""

    def __init__(self, uploads: gcs_helper.ParallelUploads, bucket: str, prefix: str, suffix: str):
        self.uploads, self.bucket, self.prefix, self.suffix = uploads, bucket, prefix, suffix
        self.bodies: list[bytes] = []
        self.index: list[dict] = []
        self.size = 0
        self.window: tuple[datetime, datetime] | None = None
        self.path = ""

    def add(self, page: Page, content: bytes, metadata: dict[str, str]) -> str:
        if not self.index:
            self.path = f"{self.prefix}/pages-{page.number:06d}{self.suffix}"
        offset = self.size
        self.bodies.append(content)
        self.size += len(content)
        self.index.append({"number": page.number, "offset": offset, "length": len(content), **metadata})
        start, end = page.window.start, page.window.end
        self.window = (min(self.window[0], start), max(self.window[1], end)) if self.window else (start, end)
        uri = page_uri(self.bucket, self.path, page.number, offset, len(content))
        if self.size >= BATCH_BYTES or len(self.index) >= BATCH_PAGES:
            self.flush()
        return uri

    def flush(self) -> None:
        if not self.index:
            return
        index = json.dumps({"format": FORMAT, "pages": self.index}, separators=(",", ":")).encode()
        metadata = {"format": FORMAT, "index_offset": str(self.size), "index_length": str(len(index)),
                    "pages": str(len(self.index)), "window_start": to_rfc3339(self.window[0]),
                    "window_end": to_rfc3339(self.window[1])}
        data = b"".join([*self.bodies, index])
        self.bodies, self.index, self.size, self.window = [], [], 0, None  # before `submit` waits
        self.uploads.submit(self.bucket, self.path, data, CONTENT_TYPE, metadata=metadata)


def page_uri(bucket: str, path: str, number: int, offset: int, length: int) -> str:
    return f"{gcs_helper.uri(bucket, path)}#page={number}&bytes={offset}-{offset + length - 1}"


@dataclass(frozen=True)
class StoredPage:
    uri: str  # the page's lineage: its object's gs:// URI (with #page=…&bytes=… in a batch)
    run_id: str
    number: int
    metadata: dict[str, str]  # PAGE_FIELDS, and item, after, kind when the page had them
    content: bytes


def stored_pages(bucket: str, prefix: str, start: datetime | None = None,
                 end: datetime | None = None) -> Iterator[StoredPage]:
    """The raw pages under `prefix` (`raw/<source>/<entity>/`) whose window overlaps [start, end),
    in fetch order (run ids start with their start time, then page numbers), from batches and
    from one-object-per-page runs alike. Objects not written by this loader are skipped."""
    found = []
    for path, meta in gcs_helper.list_with_metadata(bucket, prefix):
        batch = meta.get("format") == FORMAT and "index_offset" in meta and "index_length" in meta
        if not batch and not all(k in meta for k in PAGE_FIELDS):
            continue
        if not overlaps(meta, start, end):  # a batch's metadata spans all its pages
            continue
        number = _NUMBER.search(path)
        found.append(((path.split("/")[3], int(number.group(1)) if number else 0, path), meta, batch))
    for (run_id, number, path), meta, batch in sorted(found, key=lambda entry: entry[0]):
        content, _ = gcs_helper.read(bucket, path)
        if content is None:  # expired (lifecycle) since the listing
            continue
        if not batch:
            yield StoredPage(gcs_helper.uri(bucket, path), run_id, number, meta, content)
            continue
        at = int(meta["index_offset"])
        index = json.loads(content[at:at + int(meta["index_length"])])
        for entry in index["pages"]:
            page_meta = {k: v for k, v in entry.items() if k not in ("number", "offset", "length")}
            if overlaps(page_meta, start, end):
                offset, length = entry["offset"], entry["length"]
                yield StoredPage(page_uri(bucket, path, entry["number"], offset, length), run_id,
                                 entry["number"], page_meta, content[offset:offset + length])


def overlaps(meta: dict[str, str], start: datetime | None, end: datetime | None) -> bool:
    return not (start and parse_instant(meta["window_end"]) <= start) and \
        not (end and parse_instant(meta["window_start"]) >= end)
