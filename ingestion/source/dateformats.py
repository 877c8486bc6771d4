"""How a window bound is written into a request: the date-filter formats, keyed by the config's
`date_filter.format`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ingestion.contract.dates import to_rfc3339

# Date-filter formats: config `date_filter.format` → how a window bound is written into the request.
DateFormatter = Callable[[datetime, dict], str | int]

DATE_FORMATS: dict[str, DateFormatter] = {
    "iso_date": lambda v, spec: v.date().isoformat(),
    "iso_datetime": lambda v, spec: v.isoformat(),
    "iso_datetime_z": lambda v, spec: to_rfc3339(v),
    "epoch_s": lambda v, spec: int(v.timestamp()),
    "epoch_ms": lambda v, spec: int(v.timestamp() * 1000),
    "strftime": lambda v, spec: v.strftime(spec["strftime"]),
}


def format_bound(value: datetime, spec: dict) -> str | int:
    return DATE_FORMATS[spec.get("format", "iso_datetime_z")](value, spec)
