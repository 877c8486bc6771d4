"""Plan the time windows a sync covers, from the mode, the message, the config and the watermark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ingestion.config import EntityConfig
from ingestion.payload import SyncRequest


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end)."""

    start: datetime
    end: datetime


def plan_windows(entity: EntityConfig, request: SyncRequest, watermark: datetime | None,
                 now: datetime) -> list[Window]:
    if request.mode == "incremental":
        start = watermark - entity.lookback if watermark else entity.start_date
        end = now
    else:
        start = request.start or entity.start_date
        end = request.end or now
    end = min(end, now)  # the future has no data yet
    return slice_window(Window(start, end), entity.step) if start < end else []


def slice_window(window: Window, step: timedelta | None) -> list[Window]:
    if not step:
        return [window]
    slices, start = [], window.start
    while start < window.end:
        slices.append(Window(start, min(start + step, window.end)))
        start += step
    return slices
