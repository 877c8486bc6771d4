"""From response bytes to records (ingestion/rows/build.py turns records into rows).

Bodies are JSON (records at a dotted path) or JSON lines, optionally inside gzip or zip (hourly
export APIs ship zipped, gzipped NDJSON).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from typing import Any

from ingestion.contract.errors import ApiError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.source import jsoncodec


def decompress(content: bytes, compression: str, url: str) -> Iterator[bytes]:
    """The payload(s) inside `content`: itself, gunzipped, or every member of a zip archive
    (members ending in .gz are gunzipped too), in archive order."""
    try:
        if compression == "gzip":
            yield gzip.decompress(content)
        elif compression == "zip":
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for member in sorted(archive.namelist()):
                    if member.endswith("/"):
                        continue
                    data = archive.read(member)
                    yield gzip.decompress(data) if member.endswith(".gz") else data
        else:
            yield content
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ApiError(f"response from {url} is not valid {compression}: {exc}") from None


def parse_json(content: bytes, url: str) -> Any:
    try:
        return jsoncodec.loads(content)
    except ValueError:
        excerpt = content[:200].decode("utf-8", "replace").strip()
        raise ApiError(f"response from {url} is not valid JSON: {excerpt!r}") from None


def parse_response(content: bytes, spec: dict, url: str) -> tuple[Any, list[Any]]:
    """(parsed body, records) for the entity's `records` settings. A missing record path is an
    error (never silently an empty page) unless `allow_missing`; an explicit null is an empty
    page; a single object is one record."""
    if not content.strip() and spec.get("allow_empty_body"):
        return None, []
    compression, fmt = spec.get("compression", "none"), spec.get("format", "json")
    if fmt == "jsonl":
        records = []
        for payload in decompress(content, compression, url):
            for number, line in enumerate(payload.splitlines(), 1):
                if line.strip():
                    records.append(parse_json(line, f"{url} (line {number})"))
        return None, records
    body = parse_json(b"".join(decompress(content, compression, url)), url)
    return body, records_at(body, spec.get("path", ""), url, spec.get("allow_missing", False))


def read_page(content: bytes, status: int, spec: dict, empty_statuses: tuple[int, ...],
              url: str) -> tuple[Any, list[Any]]:
    """(body, records) of a page response; an `empty_statuses` answer (e.g. an export API's 404
    for "no data") is an empty page."""
    if status in empty_statuses:
        return None, []
    return parse_response(content, spec, url)


def records_at(body: Any, path: str, url: str, allow_missing: bool = False) -> list[Any]:
    try:
        value = dig(body, path)
    except PathNotFound as exc:
        if allow_missing:
            return []
        raise ApiError(f"response from {url}: record {exc}") from None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
