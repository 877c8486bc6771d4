"""Slices read ahead, in parallel: while the run stages (and loads, and merges) one slice's pages,
the next windows and fan-out items are already being fetched, and their report jobs created and
polled. Requests still share the fetcher's `http.max_concurrency` and the source's rate limits;
what runs ahead is bounded: `lookahead` slices at a time, each holding at most `BUFFERED_PAGES`
pages that the run has not taken yet (plus the pages its walk has in flight).

The run takes slices strictly in order and numbers their pages as it takes them, so the pages, the
raw objects and the rows are the same whatever finished first; an error of a slice surfaces when
the run reaches that slice. Closing the reader cancels what is ahead (a report job stops polling,
a walk stops before its next page) and waits for the workers: nothing keeps calling the API after
the run ends. What was read ahead and not taken is dropped, never staged.

With a single slice, or a lookahead of 1, there is nothing to overlap: `InOrder` walks the slices in
the run's own thread (a hand-over between threads costs CPU on every page).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from ingestion.model import Page, Slice

Sleep = Callable[[float], None]
BUFFERED_PAGES = 2  # per slice read ahead: enough to keep its next request going
_END = object()


class Cancelled(Exception):
    """The run no longer wants this slice (it ended, or stopped early)."""


@dataclass
class _Lane:
    """One slice being read: its pages, in order, handed from the worker to the run."""

    piece: Slice
    pages: queue.Queue = field(default_factory=lambda: queue.Queue(BUFFERED_PAGES))
    cancel: threading.Event = field(default_factory=threading.Event)

    def put(self, item: Any) -> None:
        try:
            return self.pages.put_nowait(item)  # the common case: room, no timed wait
        except queue.Full:
            pass
        while not self.cancel.is_set():
            try:
                self.pages.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise Cancelled

    def sleep(self, seconds: float) -> None:
        """A report job's wait between polls, cut short when the slice is cancelled."""
        if self.cancel.wait(seconds):
            raise Cancelled


class InOrder:
    """The same interface, nothing read ahead: each slice walked in the run's own thread."""

    def __init__(self, slices: Iterable[Slice], read: Callable[[Slice, Sleep], Iterator[Page]]):
        self.todo, self.read = iter(slices), read

    def next(self) -> tuple[Slice, Iterator[Page]] | None:
        piece = next(self.todo, None)
        return None if piece is None else (piece, self.read(piece, time.sleep))

    def __enter__(self) -> InOrder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class SliceReader:
    """`read(piece, sleep)` → the slice's pages (its walk); `next()` gives the slices' pages in
    order, each an iterator the caller drains or closes (closing one cancels the rest of its
    walk)."""

    def __init__(self, slices: Iterable[Slice], read: Callable[[Slice, Sleep], Iterator[Page]],
                 lookahead: int):
        self.todo = iter(slices)
        self.read = read
        self.ahead = max(1, lookahead) - 1  # slices started beyond the one the run is taking
        self.lanes: list[_Lane] = []
        self.current: _Lane | None = None  # the slice the run is taking pages of
        self.pool = ThreadPoolExecutor(self.ahead + 1, thread_name_prefix="slice")

    def _start(self) -> bool:
        piece = next(self.todo, None)
        if piece is None:
            return False
        lane = _Lane(piece)
        self.lanes.append(lane)
        self.pool.submit(self._work, lane)
        return True

    def _work(self, lane: _Lane) -> None:
        try:
            with closing(self.read(lane.piece, lane.sleep)) as pages:
                for page in pages:
                    lane.put(page)
                    if lane.cancel.is_set():
                        return
            lane.put(_END)
        except Cancelled:
            return
        except BaseException as exc:  # handed to the run, raised when it reaches this slice
            try:
                lane.put(exc)
            except Cancelled:
                return

    def next(self) -> tuple[Slice, Iterator[Page]] | None:
        """The next slice and its pages; None when every slice has been taken. A lookahead of 1
        reads nothing ahead: the next slice starts only when the run takes it."""
        if not self.lanes and not self._start():
            return None
        lane = self.current = self.lanes.pop(0)
        while len(self.lanes) < self.ahead and self._start():
            pass
        return lane.piece, self._drain(lane)

    @staticmethod
    def _drain(lane: _Lane) -> Iterator[Page]:
        try:
            while True:
                item = lane.pages.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            lane.cancel.set()  # taken whole, or abandoned: either way the worker stops

    def close(self) -> None:
        """Cancel whatever is read ahead and wait for the workers (each stops at its next page,
        or its next poll; a request in flight finishes within its timeout)."""
        for lane in [*self.lanes, *([self.current] if self.current else [])]:
            lane.cancel.set()
        self.lanes.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> SliceReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
