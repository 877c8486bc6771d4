"""Cloud Logging as the deploy's log-based metrics see it, for tests: a JSON log line as Cloud
Logging stores it from a gen2 function, the subset of the Logging query language the metric
filters use (with its precedence), and the metrics' EXTRACT / REGEXP_EXTRACT extractors."""

from __future__ import annotations

import json
import re

SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
TOKEN = re.compile(r'\s*(\(|\)|AND\b|OR\b|NOT\b|[\w.]+\s*(?:=~|>=|<=|!=|=|>|<)\s*(?:"(?:[^"\\]|\\.)*"|\w+))')


def field(entry: dict, path: str):
    """The value at a dotted path of a log entry (`jsonPayload.status`), None when absent."""
    value = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def matches(query: str, entry: dict) -> bool:
    """The subset of the Logging query language the metrics use, with its precedence (NOT, then
    OR, then AND: `a AND b OR c` is `a AND (b OR c)`); `=~` searches with a regular expression."""
    tokens = TOKEN.findall(query)
    assert "".join(tokens).replace(" ", "") == query.replace(" ", ""), f"cannot read {query!r}"
    tokens = [t.strip() for t in tokens]

    def conjunction(i):  # a AND b AND ...
        value, i = disjunction(i)
        while i < len(tokens) and tokens[i] == "AND":
            right, i = disjunction(i + 1)
            value = value and right
        return value, i

    def disjunction(i):  # a OR b OR ...
        value, i = negation(i)
        while i < len(tokens) and tokens[i] == "OR":
            right, i = negation(i + 1)
            value = value or right
        return value, i

    def negation(i):
        if tokens[i] == "NOT":
            value, i = negation(i + 1)
            return not value, i
        if tokens[i] == "(":
            value, i = conjunction(i + 1)
            assert tokens[i] == ")"
            return value, i + 1
        return comparison(tokens[i]), i + 1

    def comparison(token):
        path, op, literal = re.fullmatch(r'([\w.]+)\s*(=~|>=|<=|!=|=|>|<)\s*(.*)', token).groups()
        value = field(entry, path)
        literal = json.loads(literal) if literal.startswith('"') else literal
        if value is None:
            return op == "!="
        if path == "severity":
            order = SEVERITIES.index
            return {">=": order(value) >= order(literal), "=": value == literal}[op]
        return {"=": str(value) == literal, "!=": str(value) != literal,
                "=~": re.search(literal, str(value)) is not None}[op]

    value, end = conjunction(0)
    assert end == len(tokens)
    return value


def extract(expression: str, entry: dict) -> str | None:
    """EXTRACT(field) / REGEXP_EXTRACT(field, "regex") of a metric's label or value extractor."""
    path, regex = re.fullmatch(r'(?:REGEXP_)?EXTRACT\(([\w.]+)(?:, (".*"))?\)', expression).groups()
    value = field(entry, path)
    if value is None or regex is None:
        return value
    found = re.search(json.loads(regex), str(value))
    return found[1] if found else None


def as_cloud_run_stores_it(line: str) -> dict:
    """A JSON log line as Cloud Logging stores it from a gen2 function's stdout: the special
    fields lifted into the entry, everything else (message included) in jsonPayload."""
    payload = json.loads(line)
    return {"severity": payload.pop("severity"), "labels": payload.pop("logging.googleapis.com/labels", {}),
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "ingest"}},
            "sourceLocation": payload.pop("logging.googleapis.com/sourceLocation", None),
            "jsonPayload": payload}
