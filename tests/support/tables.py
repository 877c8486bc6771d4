"""Reading a test's BigQuery tables back, to compare them with a simulator's ground truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from utils import bq_helper


def table_rows(env, dataset: str, name: str) -> list[dict]:
    result = bq_helper.query(f"SELECT * FROM `{env.settings.project}.{dataset}.{name}`").result()
    return [dict(r.items()) for r in result]


def table(env, dataset: str, name: str, key: str | Callable[[dict], Any]) -> dict:
    """The rows by `key` (a column, or a function of the row); a duplicate key fails the test."""
    keyed = key if callable(key) else (lambda row: row[key])
    loaded = table_rows(env, dataset, name)
    by_key = {keyed(r): r for r in loaded}
    assert len(by_key) == len(loaded), "duplicate keys in the target table"
    return by_key
