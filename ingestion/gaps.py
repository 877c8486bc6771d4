"""Gaps: the windows of an entity (per fan-out item) that were never loaded, from the covered
windows in its state, and the backfill messages that load exactly those ("fetch only the missing
hours"). The stretch after the last loaded window is not a gap: the next incremental run takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingestion.config import EntityConfig
from ingestion.dates import to_rfc3339
from ingestion.settings import Settings
from ingestion.state import coalesce, item_states
from ingestion.windows import Window, floor_to
from utils import pubsub_helper


@dataclass(frozen=True)
class Gap:
    entity: str
    item: Any
    window: Window

    def message(self) -> dict:
        payload = {"entity": self.entity, "sync_mode": "incremental_window",
                   "start_date": to_rfc3339(self.window.start), "end_date": to_rfc3339(self.window.end)}
        if self.item is not None:
            payload["item"] = self.item
        return payload

    def __str__(self) -> str:
        item = "" if self.item is None else f" item {self.item}"
        return (f"{self.entity}{item}: {to_rfc3339(self.window.start)} → "
                f"{to_rfc3339(self.window.end)} ({self.window.end - self.window.start})")


def find_gaps(entity: EntityConfig, settings: Settings, now: datetime) -> list[Gap]:
    """Holes between the start date and the last loaded window, widened to whole date-filter
    steps (an hourly export is fetched by the hour). An entity never loaded is one big gap."""
    limit = now - entity.availability_lag
    states = item_states(entity, settings.bucket)
    if not any(s.covered for s in states.values()):
        never = not entity.fan_out and entity.start_date < limit  # fan-out: items unknown yet
        return [Gap(entity.name, None, Window(entity.start_date, limit))] if never else []
    gaps = []
    for item, state in states.items():
        loaded_from = entity.start_date
        for window in coalesce(state.covered):
            if window.start > loaded_from:
                gaps.append(Gap(entity.name, item, widen(entity, Window(loaded_from, window.start))))
            loaded_from = max(loaded_from, window.end)
    return gaps


def widen(entity: EntityConfig, window: Window) -> Window:
    step = entity.step
    if not step:
        return window
    end = floor_to(window.end, step)
    return Window(floor_to(window.start, step), end if end == window.end else end + step)


def publish_gaps(gaps: list[Gap], settings: Settings) -> list[str]:
    """One incremental_window message per gap; returns the message ids."""
    return [pubsub_helper.publish_json(settings.project, settings.trigger_topic, gap.message())
            for gap in gaps]


def total(gaps: list[Gap]) -> timedelta:
    return sum((g.window.end - g.window.start for g in gaps), timedelta())
