"""Where a record's cursor lies against the slice that fetched it, for APIs that cannot filter by
date themselves (`incremental` in docs/config.md):

- `client_filter` keeps only records inside the slice: a timestamp cursor in [window start, window
  end), an integer or string cursor at or after the watermark the slice continues from;
- `order` lets a walk stop once a page of a sorted feed lies wholly outside the slice.

A record whose cursor cannot be read is never filtered: building its row rejects it with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.jsonpath import compile_path
from ingestion.model import Page, Slice
from ingestion.rows.coerce import MISSING, parse_datetime, to_int, to_string

INSIDE, BEFORE, AFTER = 0, -1, 1  # a record's place against its slice


def _instant(value: Any) -> datetime:
    parsed = parse_datetime(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_READ = {"timestamp": _instant, "integer": to_int, "string": to_string}


class CursorPlacer:
    """Reads the cursor of raw records (by `records.fields` path or by name) and places them."""

    def __init__(self, entity: EntityConfig):
        spec = entity.incremental
        name = entity.cursor_field
        path = entity.records.fields.get(name)
        self.get: Callable[[Any, Any], Any] = (compile_path(path).get if path else
                                              lambda record, default: record.get(name, default))
        self.value = _READ[spec.cursor_type]
        self.sequence = spec.sequence

    def cursor(self, record: Any) -> Any:
        """The record's cursor as a comparable value, or None when it cannot be read."""
        if not isinstance(record, dict):
            return None
        raw = self.get(record, MISSING)
        if raw is MISSING or raw is None:
            return None
        try:
            return self.value(raw)
        except (ValueError, TypeError, OverflowError, OSError, ArithmeticError):
            return None

    def place(self, value: Any, piece: Slice) -> int:
        if self.sequence:
            return BEFORE if piece.after is not None and value < piece.after else INSIDE
        if value < piece.window.start:
            return BEFORE
        return AFTER if value >= piece.window.end else INSIDE

    def keep(self, record: Any, piece: Slice) -> bool:
        """Inside the slice, or unreadable (the row builder then rejects it)."""
        value = self.cursor(record)
        return value is None or self.place(value, piece) == INSIDE

    def wholly_outside(self, page: Page, side: int) -> bool:
        """Every record of the page lies on `side` of its slice (an empty page does not count)."""
        values = [self.cursor(record) for record in page.records]
        return bool(values) and all(v is not None and self.place(v, page.slice) == side for v in values)


def record_filter(entity: EntityConfig, full_snapshot: bool) -> Callable[[Any, Slice], bool] | None:
    """`keep(record, slice)` for an entity with `incremental.client_filter`; None when every record
    is loaded (a historical_full snapshot loads all: its deletions compare against every key)."""
    if not entity.incremental.client_filter or not entity.cursor_field or full_snapshot:
        return None
    return CursorPlacer(entity).keep


def past_the_slice(entity: EntityConfig, full_snapshot: bool) -> Callable[[Page], bool] | None:
    """`done(page)`: a sorted feed's page beyond which no record of the slice can come (newest
    first: all before it; oldest first: all at or after its end); None for an unsorted endpoint,
    and for a historical_full snapshot (its deletions need every key the API has)."""
    order = entity.incremental.order
    if order == "unsorted" or not entity.cursor_field or full_snapshot:
        return None
    placer = CursorPlacer(entity)
    side = BEFORE if order == "newest_first" else AFTER
    return lambda page: placer.wholly_outside(page, side)


class NewestCursors:
    """The newest cursor among a step's staged rows, per fan-out item (its column's value as
    text; None without fan-out): what `SELECT item, MAX(cursor) … GROUP BY item` over the step's
    staging table gives, worked out as the rows are built instead of by one more query job after
    the load. Staged values order as BigQuery orders them: integers and strings as they are, and
    a time by its staged text (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, a DATETIME with a space, a
    DATE), once a TIMESTAMP's `Z` is dropped (`…:07` before `…:07.5`); only each page's newest is
    parsed. The next watermarks: a time as an aware datetime, a sequence as its value."""

    def __init__(self, column: str, kind: str, item: str | None):
        self.column, self.item = column, item
        self.order = itemgetter(slice(None, -1)) if kind == "TIMESTAMP" else None
        self.position = _POSITIONS.get(kind, _as_is)
        self.found: dict[str | None, Any] = {}

    @classmethod
    def for_entity(cls, entity: EntityConfig) -> NewestCursors | None:
        if not entity.cursor_field:
            return None
        kind = next(f["type"].upper() for f in entity.fields if f["name"] == entity.cursor_field)
        return cls(entity.cursor_field, kind, entity.fan_out.column if entity.fan_out else None)

    def add(self, rows: list[dict]) -> None:
        column = self.column
        if self.item is None:
            self._offer(None, [value for row in rows if (value := row.get(column)) is not None])
            return
        by_item: dict[str | None, list] = {}
        for row in rows:
            if (value := row.get(column)) is not None:
                by_item.setdefault(_as_text(row.get(self.item)), []).append(value)
        for item, values in by_item.items():
            self._offer(item, values)

    def _offer(self, item: str | None, values: list) -> None:
        if not values:
            return
        newest = self.position(max(values, key=self.order))
        if item not in self.found or newest > self.found[item]:
            self.found[item] = newest


def _as_is(value: Any) -> Any:
    return value


def _midnight(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)


def _civil(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_POSITIONS = {"TIMESTAMP": datetime.fromisoformat, "DATETIME": _civil, "DATE": _midnight}


def _as_text(value: Any) -> str | None:
    """The item as `CAST(… AS STRING)` writes it (a commit finds its item's watermark by it)."""
    if value is None or isinstance(value, str):
        return value
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
