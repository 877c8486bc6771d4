"""The run's clock: "now" as the run sees it, and its time budget."""

from __future__ import annotations

import time
from datetime import datetime, timedelta


class RunClock:
    """Starts at `start` (the real time, or a simulated one in tests) and advances with real
    time, so leases written with it expire in step with the run."""

    def __init__(self, start: datetime, budget_seconds: float):
        self.start, self.budget_seconds = start, budget_seconds
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._t0)

    def out_of_time(self) -> bool:
        """True once the budget is spent: start no new window, continue in another invocation."""
        return time.monotonic() - self._t0 >= self.budget_seconds
