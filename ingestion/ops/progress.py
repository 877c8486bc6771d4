"""Progress of an in-process run (`python -m ingestion run`): window, pages, records, rate.

On a terminal one status line is redrawn; otherwise (CI, a log file) a line is printed per window.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ingestion.model import Page


class ProgressDisplay:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.pages = self.records = 0
        self.window: str | None = None
        self.window_records = 0

    def __call__(self, page: Page) -> None:
        window = self.describe(page)
        if window != self.window:
            self.close_window()
            self.window, self.window_records = window, 0
        self.pages += 1
        self.records += len(page.records)
        self.window_records += len(page.records)
        if self.live:
            self.stream.write(f"\r\033[K{self.status()}")
            self.stream.flush()

    @staticmethod
    def describe(page: Page) -> str:
        item = "" if page.slice.item is None else f" item {page.slice.item}"
        return f"window {page.window.start:%Y-%m-%d %H:%M} → {page.window.end:%Y-%m-%d %H:%M}{item}"

    def rate(self) -> float:
        return self.records / max(time.monotonic() - self.started, 1e-6)

    def status(self) -> str:
        return (f"{self.window}: {self.window_records:,} records | total {self.pages:,} pages, "
                f"{self.records:,} records, {self.rate():,.0f} records/s")

    def close_window(self) -> None:
        if self.window is None:
            return
        self.stream.write(("\r\033[K" if self.live else "") + self.status() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.close_window()
        self.window = None
