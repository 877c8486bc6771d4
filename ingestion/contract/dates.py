"""Instants and durations as the config and the trigger message write them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """ISO 8601 duration without months/years (their length varies): P1D, PT6H, P1DT12H."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not an ISO 8601 duration (like P1D or PT6H): {text!r}")
    return timedelta(**{k: int(v) for k, v in match.groupdict().items() if v})


def is_date_only(text: str) -> bool:
    return len(text.strip()) == 10


def parse_instant(text: str, end_of_day: bool = False) -> datetime:
    """ISO date or datetime → aware UTC datetime. Naive datetimes are taken as UTC. A bare date is
    its midnight, or the next midnight with `end_of_day` (so an end date includes that day)."""
    text = text.strip()
    try:
        if is_date_only(text):
            day = date.fromisoformat(text)
            value = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return value + timedelta(days=1) if end_of_day else value
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or datetime: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
