"""Plan the time windows a sync covers, from the mode, the message, the config and the watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingestion.contract.config import EntityConfig
from ingestion.contract.payload import SyncRequest
from ingestion.model import Window

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def plan_windows(entity: EntityConfig, request: SyncRequest, watermark: datetime | None,
                 now: datetime) -> list[Window]:
    """Incremental runs start at the watermark minus the lookback (or the config's start date);
    nothing ends after `now - availability_lag`, the newest data the API has complete. With
    `date_filter.align`, both bounds snap down to whole steps (hourly export files). An integer or
    string cursor has no dates: one window, from the start date (the watermark goes in the slice)."""
    if entity.incremental.sequence:
        return [Window(entity.start_date, now)] if entity.start_date < now else []
    if request.mode == "incremental":
        start = watermark - entity.lookback if watermark else entity.start_date
        end = now
    else:
        start = request.start or entity.start_date
        end = request.end or now
    end = min(end, now - entity.availability_lag)
    step = entity.step
    if entity.aligned:
        start, end = floor_to(start, step), floor_to(end, step)
    return slice_window(Window(start, end), step) if start < end else []


def floor_to(value: datetime, step: timedelta) -> datetime:
    """`value` rounded down to a whole multiple of `step` since the Unix epoch (UTC)."""
    return value - (value - _EPOCH) % step


def slice_window(window: Window, step: timedelta | None) -> list[Window]:
    if not step:
        return [window]
    slices, start = [], window.start
    while start < window.end:
        slices.append(Window(start, min(start + step, window.end)))
        start += step
    return slices
