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


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("values", [
    [{"a": 1}],
    [{"s": "a\nb", "t": ",\n,", "u": "," + "\n" * 16 + ",", "c": "\x00\x1f\t\r", "q": '"}],[{"'}],
    [{"rows": [{"x": 1}, {"x": 2}], "e": [], "d": {}}, [], {}, 1, "two", None, True, 2.5],
    [{"ok": 1}, {"big": 2**70}, {"lone": "\ud800"}],  # orjson refuses one: the page falls back
    [_nested(n) for n in range(250, 258)],  # around orjson's depth limit, one level less in a list
    [{"id": n, "note": "é ☃ 😀" * (n % 5)} for n in range(2000)],
])
def test_lines_are_the_same_bytes_as_one_dumps_line_per_value(values):
    assert jsoncodec.dumps_lines(values) == b"".join(map(jsoncodec.dumps_line, values))


def test_no_values_no_lines():
    assert jsoncodec.dumps_lines([]) == b""
