"""How a window bound is written into a request: one small class per `date_filter.format`, built
from the date filter's settings and registered under its `type`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.contract.dates import to_rfc3339
from ingestion.contract.registry import Registry
from ingestion.contract.sections import DateFilterSpec

DATE_FORMATS = Registry("date format")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DateFormat:
    type: str

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        DATE_FORMATS.add(cls)

    def format(self, value: datetime) -> str | int:
        raise NotImplementedError


class IsoDate(DateFormat):
    """2024-01-31"""

    type = "iso_date"

    def format(self, value: datetime) -> str:
        return value.date().isoformat()


class IsoDatetime(DateFormat):
    """2024-01-31T00:00:00+00:00"""

    type = "iso_datetime"

    def format(self, value: datetime) -> str:
        return value.isoformat()


class IsoDatetimeZ(DateFormat):
    """2024-01-31T00:00:00Z"""

    type = "iso_datetime_z"

    def format(self, value: datetime) -> str:
        return to_rfc3339(value)


class EpochSeconds(DateFormat):
    type = "epoch_s"

    def format(self, value: datetime) -> int:
        return int(value.timestamp())


class EpochMilliseconds(DateFormat):
    type = "epoch_ms"

    def format(self, value: datetime) -> int:
        return int(value.timestamp() * 1000)


class EpochSecondsMicros(DateFormat):
    """1512085950.000216: seconds with six decimals, as text (Slack's `oldest`/`latest`, a message
    `ts`). Computed in whole microseconds: a float would round the last digits."""

    type = "epoch_s_micro"

    def format(self, value: datetime) -> str:
        micros = (value - EPOCH) // timedelta(microseconds=1)
        sign, micros = ("-", -micros) if micros < 0 else ("", micros)
        return f"{sign}{micros // 10**6}.{micros % 10**6:06d}"


class Strftime(DateFormat):
    """Any pattern, e.g. `%Y%m%dT%H` for hourly export files (`date_filter.strftime`)."""

    type = "strftime"

    def __init__(self, pattern: str):
        self.pattern = pattern

    def format(self, value: datetime) -> str:
        return value.strftime(self.pattern)


def date_format(spec: DateFilterSpec) -> DateFormat:
    """The formatter a date filter asks for (`strftime` takes its pattern)."""
    options = {"pattern": spec.strftime} if spec.format == Strftime.type else {}
    return DATE_FORMATS.build(spec.format, **options)
