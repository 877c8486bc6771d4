"""Conditions on a record's field, shared by `deletes.when` and `records.filters`:
`{"field": "<path>", "equals": …}` or `"in": [...]`, `"present": true|false`, `"matches": "<regex>"`
(exactly one test; the JSON Schema's `$defs/condition` enforces it). Compiled once per run: they are
evaluated for every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ingestion.contract.jsonpath import compile_path

TESTS = ("equals", "in", "present", "matches")
_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def compile_condition(document: dict) -> Callable[[Any], bool]:
    """`test(record)`: whether the record's field passes the condition's test. A record that is
    not an object passes no test but `present: false`."""
    read = compile_path(document["field"]).get
    test = next(name for name in TESTS if name in document)
    expected = document[test]

    def value(record: Any) -> Any:
        return read(record, _MISSING) if isinstance(record, dict) else _MISSING

    if test == "present":
        return lambda record: (value(record) not in (_MISSING, None)) == expected
    if test == "equals":
        return lambda record: _same(value(record), expected)
    if test == "in":
        return lambda record: any(_same(value(record), option) for option in expected)
    pattern = re.compile(expected)
    return lambda record: isinstance(v := value(record), str) and pattern.fullmatch(v) is not None


def describe(document: dict) -> str:
    """`field test value`, for messages and logs."""
    test = next(name for name in TESTS if name in document)
    return f"{document['field']} {test} {document[test]!r}"
