"""Gaps: the windows of an entity (per fan-out item) that were never loaded, from the covered
windows in its state, and the backfill messages that load exactly those ("fetch only the missing
hours"). The stretch after the last loaded window is not a gap: the next incremental run takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ingestion.contract.config import EntityConfig
from ingestion.contract.dates import to_rfc3339
from ingestion.contract.settings import Settings
from ingestion.model import Window
from ingestion.planning.state import coalesce, item_states
from ingestion.planning.windows import floor_to
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


@dataclass(frozen=True)
class Survey:
    """What `gaps` says about one entity: its holes, or that it was never loaded (no holes: the
    next incremental run loads it from its start date)."""

    entity: EntityConfig
    gaps: list[Gap]
    loaded: bool

    def lines(self) -> list[str]:
        if not self.loaded:
            return [f"{self.entity.name}: never loaded (the next incremental run loads it from "
                    f"{to_rfc3339(self.entity.start_date)})"]
        return [str(gap) for gap in self.gaps]


def survey(entity: EntityConfig, settings: Settings) -> Survey:
    """Holes between the start date and the last loaded window, per fan-out item, widened to whole
    date-filter steps (an hourly export is fetched by the hour). What follows the last loaded
    window is no hole, and neither is an entity (or item) never loaded: incremental runs take it."""
    gaps, loaded = [], False
    for item, state in item_states(entity, settings.bucket).items():
        loaded_from = entity.start_date
        for window in coalesce(state.covered):
            loaded = True
            if window.start > loaded_from:
                gaps.append(Gap(entity.name, item, widen(entity, Window(loaded_from, window.start))))
            loaded_from = max(loaded_from, window.end)
    return Survey(entity, gaps, loaded)


def find_gaps(entity: EntityConfig, settings: Settings) -> list[Gap]:
    """The holes of `survey` (every hole lies before a loaded window: none reaches the future)."""
    return survey(entity, settings).gaps


def widen(entity: EntityConfig, window: Window) -> Window:
    """With `date_filter.align` (export files by the hour or day) a hole is fetched as the whole
    steps that contain it, as every window is; otherwise exactly the hole."""
    if not entity.aligned:
        return window
    step = entity.step
    end = floor_to(window.end, step)
    return Window(floor_to(window.start, step), end if end == window.end else end + step)


def publish_gaps(gaps: list[Gap], settings: Settings) -> list[str]:
    """One incremental_window message per gap; returns the message ids."""
    return [pubsub_helper.publish_json(settings.project, settings.trigger_topic, gap.message())
            for gap in gaps]


def total(gaps: list[Gap]) -> timedelta:
    return sum((g.window.end - g.window.start for g in gaps), timedelta())
