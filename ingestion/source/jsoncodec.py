"""JSON on the hot path (every page parsed, every staged row written): orjson, several times faster
than the standard library at both ends (`python -m bench` measures it), with the standard library
kept for what orjson reads differently, so the result never depends on which one ran:

- an integer of 20+ digits: orjson silently turns it into a float, `json` keeps it exact (an id or
  a BIGNUMERIC must not lose digits), so such a document is read by `json`;
- NaN/Infinity literals, a byte order mark, lone surrogates: orjson refuses, `json` reads them;
- writing, values orjson cannot encode (integers beyond 64 bits, lone surrogates) go through
  `json` with ASCII escapes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Every digit becomes "9", every other byte a space: a run of 20 digits is then a plain substring
# search, ~20 times faster than the regular expression \d{20} on a page of JSON.
_DIGITS = bytes(ord("9") if chr(b).isdigit() and b < 128 else ord(" ") for b in range(256))
_TWENTY_DIGITS = b"9" * 20


def loads(data: bytes) -> Any:
    """Parse a JSON document; raises ValueError when it is not valid JSON."""
    if _TWENTY_DIGITS not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # let `json` decide, and word the error
    return json.loads(data)


# Between two values of a list written in one call. orjson escapes every control character in a
# string and writes no whitespace, so its only raw newlines are these, each between two commas
# (a long separator is found faster than a short one).
_GAP = b"\n" * 16
_SEPARATOR, _BETWEEN = orjson.Fragment(_GAP), b"," + _GAP + b","


def dumps_lines(values: list[Any]) -> bytes:
    """`values` as NDJSON, one line each: one orjson call for the whole list, cut at the
    separators: the same bytes as one call per value (what `dumps_line` writes), in less time."""
    if not values:
        return b""
    spaced = [_SEPARATOR] * (2 * len(values) - 1)
    spaced[::2] = values
    try:
        text = orjson.dumps(spaced)  # [v1,<gap>,v2,<gap>,v3]
    except TypeError:  # also a value nested to orjson's depth limit (one level more here)
        return b"".join(map(dumps_line, values))
    return b"\n".join(text[1:-1].split(_BETWEEN)) + b"\n"


def dumps_line(value: Any) -> bytes:
    """`value` as one line of NDJSON, newline included."""
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (json.dumps(value, separators=(",", ":")) + "\n").encode()
