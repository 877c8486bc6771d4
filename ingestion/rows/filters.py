"""`records.filters`: records read but left out on purpose (test orders, internal accounts, event
types this table does not hold). A record is left out when any `drop` filter matches it or any
`keep` filter does not; like the records `incremental.client_filter` leaves out (cursor.py), it
is counted in the run row's `filtered`, and never staged nor rejected.

A record that is not a JSON object is never filtered: building its row rejects it with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingestion.contract.conditions import compile_condition
from ingestion.contract.config import EntityConfig
from ingestion.model import Slice

Keep = Callable[[Any, Slice], bool]


def record_filters(entity: EntityConfig) -> Callable[[Any], bool] | None:
    """`passes(record)` for the entity's `records.filters`; None without any (nothing to test)."""
    filters = entity.records.filters
    if not filters:
        return None
    keeps = [compile_condition(f) for f in filters if f["action"] == "keep"]
    drops = [compile_condition(f) for f in filters if f["action"] == "drop"]

    def passes(record: Any) -> bool:
        if not isinstance(record, dict):
            return True
        return all(test(record) for test in keeps) and not any(test(record) for test in drops)

    return passes


def with_record_filters(entity: EntityConfig, keep: Keep | None) -> Keep | None:
    """The stager's `keep(record, slice)`: `records.filters` first, then `keep` (the client filter
    on the cursor) if there is one."""
    passes = record_filters(entity)
    if passes is None:
        return keep
    if keep is None:
        return lambda record, piece: passes(record)
    return lambda record, piece: passes(record) and keep(record, piece)
