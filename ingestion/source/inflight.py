"""How many pages of a known-count walk to keep in flight: as many as help, at most
`http.max_concurrency`.

Threads only overlap waiting. Against a slow API (50 ms a page) each page more in flight makes the
walk that much faster, up to the limit. Against a fast one (a few ms a page: a LAN, a loopback, a
cache) the walk is bound by CPU under one interpreter lock, and eight threads fetching and parsing
at once are slower than two: every hand-over of the lock costs, and the thread staging the pages
waits behind them (`python -m bench --only extract --concurrency 1|2|8`: 80k, 63k, 55k records/s at
100 records a page on 2 cores).

So the window is found by measuring, the way TCP finds its own: it starts at 1, doubles while
doubling makes pages come at least 25% faster, then probes one up or one down per measured stretch,
keeping a step that helped (up: 10% faster; down: that cost under 3%) and undoing one that did
not (a step up that is plainly slower, by 15%, is undone after a short stretch: against a
fast API one more thread can halve the pace, and a full stretch of that costs more than the probe
can win), then holding a while before probing again, twice as long after each probe undone (the API may
slow down or speed up later in the walk, but a walk that is steady should not keep paying for
probes). A window of 1 fetches in the run's own thread: no hand-over at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

START = 1
GAIN, LOSS = 1.10, 0.97  # a step up must be this much faster; a step down at most this much slower
STRETCH_PAGES, STRETCH_SECONDS = 2, 0.2  # a stretch: a window's pages and 2 more, and 0.2 s at least
# While doubling, a stretch need only last 0.05 s, and a doubling must be 25% faster: against a
# slow API each doubling is about twice as fast, a signal a short stretch shows (every 0.2 s spent
# below the window costs pages), while against a loopback one a short stretch at one in flight can
# look 5-10% slower than the next by chance alone (an upload landing in it).
DOUBLING_SECONDS, DOUBLING_GAIN = 0.05, 1.25
# A step up this much slower is undone after a short (doubling) stretch: against a loopback API a
# second thread costs 15-40% a page, and a quarter let the milder probes run a full stretch.
ABORT = 0.85
HOLD, MAX_HOLD = 2, 32  # stretches without a probe after one was undone: doubling while they fail


class Window:
    """`size` is how many requests to keep in flight; `took()` after each page the run takes."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic):
        self.limit, self.clock = max(1, limit), clock
        self.size = min(START, self.limit)
        self.step = 0  # the probe under way: +n, -1, or 0 for none
        self.doubling = True  # until the first step that does not help
        self.direction, self.hold, self.rate = 1, 0, 0.0
        self.pause = HOLD  # the next hold: doubles with each probe undone, back to HOLD after one kept
        self.taken, self.since = 0, clock()

    def took(self) -> None:
        self.taken += 1
        elapsed = self.clock() - self.since
        if self.taken < self.size + STRETCH_PAGES or elapsed < DOUBLING_SECONDS:
            return
        if not self.doubling and elapsed < STRETCH_SECONDS \
                and not (self.step > 0 and self.taken / elapsed < self.rate * ABORT):
            return
        self._judge(self.taken / elapsed)
        self._probe()
        self.taken, self.since = 0, self.clock()

    def _judge(self, rate: float) -> None:
        """Keep the probe under way, or undo it; with none, the rate is the new baseline."""
        need = (DOUBLING_GAIN if self.doubling else GAIN) if self.step > 0 else LOSS
        if self.step and rate < self.rate * need:
            self.size -= self.step
            self.direction = -1 if self.step > 0 else 1
            self.doubling, self.hold, self.pause = False, self.pause, min(MAX_HOLD, 2 * self.pause)
        else:
            if self.step:
                self.pause = HOLD
            self.rate = rate
        self.step = 0

    def _probe(self) -> None:
        if self.hold:
            self.hold -= 1
            return
        step = self.size if self.doubling else self.direction
        new = min(self.limit, max(1, self.size + step))
        if new == self.size:  # at a bound: probe the other way next time
            self.direction, self.doubling = -self.direction, False
            return
        self.step, self.size = new - self.size, new
