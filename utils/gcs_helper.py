"""Cloud Storage adapter: upload/download objects, with generation preconditions where asked."""

from __future__ import annotations

import functools
import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from google.api_core.exceptions import NotFound
from google.cloud import storage
from google.cloud.storage._media import _upload

from utils.gcp import emulator_kwargs


def _multipart_body(data: bytes, metadata: dict, content_type: str) -> tuple[bytes, bytes]:
    """The multipart upload's body in one copy of `data`. The library's
    `construct_multipart_request` (same bytes) chains `+`, copying a whole object four times: with
    4 MiB parts and raw batches uploaded from several threads, those transients were most of a
    large run's peak memory (glibc keeps them in each thread's arena)."""
    boundary = _upload.get_boundary()
    sep = _upload._MULTIPART_SEP + boundary
    crlf = _upload._CRLF
    content = b"".join((sep, _upload._MULTIPART_BEGIN, json.dumps(metadata).encode(), crlf, sep, crlf,
                        b"content-type: ", content_type.encode(), crlf, crlf, data, crlf, sep,
                        _upload._MULTIPART_SEP))
    return content, boundary


LIBRARY_MULTIPART_BODY = _upload.construct_multipart_request  # kept: tests compare the two
if all(hasattr(_upload, name) for name in ("get_boundary", "_MULTIPART_SEP", "_MULTIPART_BEGIN", "_CRLF")):
    _upload.construct_multipart_request = _multipart_body  # else a client that changed: its own


@functools.cache
def client(project: str | None = None) -> storage.Client:
    # STORAGE_EMULATOR_HOST is honoured by the client itself; only the credentials need changing.
    return storage.Client(project=project, **emulator_kwargs("STORAGE_EMULATOR_HOST"))


def upload(
    bucket: str,
    path: str,
    data: bytes | str,
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
    if_generation_match: int | None = None,
) -> int:
    """Write one object; returns its new generation. `if_generation_match=0` means create-only."""
    blob = client().bucket(bucket).blob(path)
    if metadata:
        blob.metadata = metadata
    blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match)
    return int(blob.generation or 0)


def read(bucket: str, path: str) -> tuple[bytes | None, int]:
    """Return (content, generation), or (None, 0) when the object does not exist."""
    blob = client().bucket(bucket).blob(path)
    try:
        data = blob.download_as_bytes()
    except NotFound:
        return None, 0
    return data, int(blob.generation or 0)


def read_range(bucket: str, path: str, start: int, end: int) -> bytes | None:
    """Bytes `start` to `end` (inclusive, as `gcloud storage cat -r start-end`), or None when the
    object does not exist."""
    try:
        return client().bucket(bucket).blob(path).download_as_bytes(start=start, end=end)
    except NotFound:
        return None


def list_paths(bucket: str, prefix: str) -> list[str]:
    return [b.name for b in client().list_blobs(bucket, prefix=prefix)]


def list_with_metadata(bucket: str, prefix: str) -> list[tuple[str, dict[str, str]]]:
    """(path, custom metadata) of every object under `prefix`, from the listing alone."""
    return [(b.name, b.metadata or {}) for b in client().list_blobs(bucket, prefix=prefix)]


def uri(bucket: str, path: str) -> str:
    return f"gs://{bucket}/{path}"


class ParallelUploads:
    """`upload()` calls run in background threads, at most `max_in_flight` at once: a caller that
    submits more waits for the oldest (so the data held in memory stays bounded, and a failed
    upload surfaces at the next submit). `wait()` returns once every upload is done or raises
    the first failure. Leaving the `with` block on an error abandons what has not started.
    Four at once: an upload holds its object twice (the data and the request body), so eight 4 MiB
    parts in flight held 64 MB, while four already keep up with a run (`make bench`)."""

    def __init__(self, max_in_flight: int = 4):
        self.max_in_flight = max_in_flight
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="upload")
        self._pending: deque[Future] = deque()

    def submit(self, bucket: str, path: str, data: bytes | str, content_type: str,
               metadata: dict[str, str] | None = None) -> Future:
        while len(self._pending) >= self.max_in_flight:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(upload, bucket, path, data, content_type, metadata))
        return self._pending[-1]

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> ParallelUploads:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
