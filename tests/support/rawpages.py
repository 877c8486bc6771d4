"""Raw pages as a user finds them in the bucket, read without the product's reader: a batch
object's index (where its metadata says), a page by the byte range its lineage URI names (what
`gcloud storage cat -r START-END` prints), a batch file of the local stack's filesystem backend, and
batches rewritten the way older runs stored pages (one object per page, fields as metadata)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

from utils import gcs_helper

_URI = re.compile(r"gs://([^/]+)/([^#]+)#(.+)")


def index(bucket: str, path: str) -> list[dict]:
    """The pages a batch object lists, read from the range its metadata names."""
    meta = gcs_helper.client().bucket(bucket).get_blob(path).metadata
    at, length = int(meta["index_offset"]), int(meta["index_length"])
    return json.loads(gcs_helper.read_range(bucket, path, at, at + length - 1))["pages"]


def pages(bucket: str, prefix: str) -> list[dict]:
    """Every page listed by the batch objects under `prefix`, each with its object's `path`."""
    return [{**entry, "path": path} for path in gcs_helper.list_paths(bucket, prefix)
            for entry in index(bucket, path)]


def page_range(uri: str) -> tuple[str, str, int, int, int]:
    """(bucket, path, page number, first byte, last byte) named by a lineage URI."""
    bucket, path, fragment = _URI.fullmatch(uri).groups()
    query = parse_qs(fragment)
    first, last = query["bytes"][0].split("-")
    return bucket, path, int(query["page"][0]), int(first), int(last)


def page_bytes(uri: str) -> bytes:
    bucket, path, _, first, last = page_range(uri)
    return gcs_helper.read_range(bucket, path, first, last)


def file_pages(path: Path) -> list[bytes]:
    """The page bodies of a batch object stored as a plain file (fake-gcs-server's filesystem
    backend keeps the metadata elsewhere): the index is the JSON document after the bodies."""
    data = path.read_bytes()
    listed = json.loads(data[data.rindex(b'{"format":'):])["pages"]
    return [data[p["offset"]:p["offset"] + p["length"]] for p in listed]


def to_per_page_layout(bucket: str, prefix: str) -> list[str]:
    """Rewrite the batches under `prefix` as one-object-per-page runs stored them:
    `…/<run_id>/page-NNNNNN<suffix>`, the body alone, the page's fields as custom metadata.
    Returns the new paths."""
    written = []
    for path in gcs_helper.list_paths(bucket, prefix):
        content, _ = gcs_helper.read(bucket, path)
        folder, name = path.rsplit("/", 1)
        suffix = name[len("pages-000000"):]
        for entry in index(bucket, path):
            body = content[entry["offset"]:entry["offset"] + entry["length"]]
            meta = {k: v for k, v in entry.items() if k not in ("number", "offset", "length")}
            written.append(f"{folder}/page-{entry['number']:06d}{suffix}")
            gcs_helper.upload(bucket, written[-1], body, "application/json", metadata=meta)
        gcs_helper.client().bucket(bucket).blob(path).delete()
    return written
