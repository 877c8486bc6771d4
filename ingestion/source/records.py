"""From response bytes to records (ingestion/rows/build.py turns records into rows).

Bodies are one of the registered formats (JSON with records at a path, JSON lines; CSV, TSV and
XML in ingestion/source/formats.py), optionally inside gzip or zip (hourly export APIs ship zipped,
gzipped NDJSON). `records.columns` then names positional rows from headers in the body.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from typing import Any

from ingestion.contract.errors import ApiError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.contract.registry import Registry
from ingestion.contract.sections import RecordsSpec
from ingestion.source import jsoncodec

FORMATS = Registry("response format")


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


class ResponseFormat:
    """How a response body holds records (`records.format`); registered under its `type`."""

    type: str
    suffix: str  # of the raw page stored in GCS
    content_type: str

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        FORMATS.add(cls)

    def parse(self, payloads: Iterator[bytes], spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
        """(parsed body, or None; records) of the decompressed payload(s)."""
        raise NotImplementedError


class JsonFormat(ResponseFormat):
    """One JSON document; the records at `records.path` (a single object is one record)."""

    type, suffix, content_type = "json", ".json", "application/json"

    def parse(self, payloads: Iterator[bytes], spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
        body = parse_json(b"".join(payloads), url)
        return body, records_at(body, spec.path, url, spec.allow_missing)


class JsonLinesFormat(ResponseFormat):
    """One record per line (blank lines skipped); no body to page through."""

    type, suffix, content_type = "jsonl", ".jsonl", "application/x-ndjson"

    def parse(self, payloads: Iterator[bytes], spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
        records = [parse_json(line, f"{url} (line {number})")
                   for payload in payloads
                   for number, line in enumerate(payload.splitlines(), 1) if line.strip()]
        return None, records


def response_format(spec: RecordsSpec) -> ResponseFormat:
    return FORMATS.build(spec.format)


def parse_response(content: bytes, spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
    """(parsed body, records) for the entity's `records` settings. A missing record path is an
    error (never silently an empty page) unless `allow_missing`; an explicit null is an empty
    page; a single object is one record."""
    body, records = response_format(spec).parse(decompress(content, spec.compression, url), spec, url)
    if spec.columns is not None:
        records = named_records(body, records, spec.columns, url)
    return body, records


def read_page(content: bytes, status: int, spec: RecordsSpec, empty_statuses: tuple[int, ...],
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


# The text formats register themselves on import; their module builds on the classes above.
from ingestion.source.formats import named_records  # noqa: E402
