"""A multipart upload's body (utils/gcs_helper.py): the bytes the storage client would send, made
with one copy of the object instead of four."""

from __future__ import annotations

import tracemalloc

from google.cloud.storage._media import _upload

from utils import gcs_helper

DATA = b'{"id":1,"name":"caf\\u00e9"}\n' * 150_000  # ~4 MiB, a staged part


def test_the_body_is_the_one_the_library_builds(mocker):
    mocker.patch.object(_upload, "get_boundary", return_value=b"===============1234567890==")
    metadata = {"name": "staging/part-000001.jsonl", "metadata": {"pages": "3"}, "crc32c": "AAAA=="}
    ours = gcs_helper._multipart_body(DATA, metadata, "application/x-ndjson")
    assert ours == gcs_helper.LIBRARY_MULTIPART_BODY(DATA, metadata, "application/x-ndjson")
    assert ours[0].endswith(b"--===============1234567890==--")


def test_the_body_costs_one_copy_of_the_object():
    """Through the name the storage client calls: the one-copy body is the one installed."""
    tracemalloc.start()
    try:
        body, _ = _upload.construct_multipart_request(DATA, {"name": "x"}, "application/x-ndjson")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) > len(DATA)
    assert peak < 1.2 * len(DATA)  # the library's chain of `+` peaks at two copies, and makes four
