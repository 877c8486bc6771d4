"""Cloud Storage adapter: upload/download objects, with generation preconditions where asked."""

from __future__ import annotations

import functools

from google.api_core.exceptions import NotFound
from google.cloud import storage

from utils.gcp import emulator_kwargs


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


def list_paths(bucket: str, prefix: str) -> list[str]:
    return [b.name for b in client().list_blobs(bucket, prefix=prefix)]


def list_with_metadata(bucket: str, prefix: str) -> list[tuple[str, dict[str, str]]]:
    """(path, custom metadata) of every object under `prefix`, from the listing alone."""
    return [(b.name, b.metadata or {}) for b in client().list_blobs(bucket, prefix=prefix)]


def uri(bucket: str, path: str) -> str:
    return f"gs://{bucket}/{path}"
