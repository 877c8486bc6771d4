"""orjson on the hot path must read and write exactly what the standard library would."""

from __future__ import annotations

import json

import pytest

from ingestion.source import jsoncodec


def test_large_integers_keep_every_digit():
    document = b'{"id": 123456789012345678901234567890, "small": 12345678901234567890, "f": 0.1}'
    assert jsoncodec.loads(document) == json.loads(document)
    assert jsoncodec.loads(document)["id"] == 123456789012345678901234567890


@pytest.mark.parametrize("document", [b"[NaN, Infinity]", b"\xef\xbb\xbf[1]", b'"\\ud800"', b"[1e400]"])
def test_what_orjson_refuses_is_read_as_the_standard_library_reads_it(document):
    assert repr(jsoncodec.loads(document)) == repr(json.loads(document))


def test_invalid_json_raises_value_error():
    with pytest.raises(ValueError):
        jsoncodec.loads(b'{"a": ')


def test_lines_round_trip_including_values_orjson_cannot_write():
    rows = [{"a": 1, "s": "é ☃"}, {"big": 2**70}, {"lone": "\ud800"}, {"nested": {"x": [1, None]}}]
    lines = jsoncodec.dumps_lines(rows).splitlines()
    assert len(lines) == 4 and [json.loads(line) for line in lines] == rows
