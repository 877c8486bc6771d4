"""The value types the layers share: what a sync plans (windows, slices, jobs) and what extraction
hands on (responses, pages). Plain data, no I/O: planning, extraction, rows and the warehouse all
speak these without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL = ("succeeded", "failed", "skipped")  # job statuses after which nothing runs


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Slice:
    """One unit of extraction: a window, for one fan-out item (None without fan-out). With an
    integer or string cursor, `after` is the watermark the API is asked to continue from."""

    item: Any
    window: Window
    after: Any = None


@dataclass
class ApiResponse:
    """One parsed API response, as paginators and the stager see it."""

    url: str  # secrets redacted
    status: int
    content: bytes  # the body exactly as received
    body: Any  # parsed JSON (None for line-delimited formats)
    records: list[Any]
    links: dict[str, str] = field(default_factory=dict)  # RFC 8288 `Link` header: rel → URL
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased: header-driven paging
    final: bool = False  # ends the walk whatever the paginator reads (an `ignore` response action)


@dataclass
class Page:
    number: int  # 1-based, across the whole run
    slice: Slice
    response: ApiResponse
    fetched_at: datetime
    run_id: str | None = None  # the run that fetched it, and its raw object: set for replayed pages
    source: str | None = None

    @property
    def window(self) -> Window:
        return self.slice.window

    @property
    def records(self) -> list[Any]:
        return self.response.records


@dataclass(frozen=True)
class Staging:
    """A step's staging in BigQuery: one table, or the chunks loaded while the step extracted, each
    a table of its own (so that each load job replaces its own chunk when retried, and the last
    one loads only the step's tail). `relation` is how SQL reads it: the table, or their union."""

    tables: tuple[str, ...]

    @property
    def relation(self) -> str:
        if len(self.tables) == 1:
            return f"`{self.tables[0]}`"
        return "(" + " UNION ALL ".join(f"SELECT * FROM `{table}`" for table in self.tables) + ")"


@dataclass
class JobSlice:
    item: Any
    window: Window
    chunk: int = 0  # the part of a parallel backfill it belongs to
    done_by: str | None = None  # the run that committed it
    after: Any = None  # see Slice

    @property
    def slice(self) -> Slice:
        return Slice(self.item, self.window, self.after)


@dataclass
class Job:
    """What one trigger message asked for, planned once (see ingestion/planning/jobs.py)."""

    job_id: str
    entity: str
    mode: str
    item: Any  # the message's fan-out item; None = all items
    planned_at: datetime  # a full snapshot only deletes rows last written before this
    slices: list[JobSlice]
    status: str = "running"  # running | succeeded | failed | skipped
    rejected: int = 0
    finalized: bool = False  # a full snapshot's deletions are applied
    error: str | None = None
    runs: list[str] = field(default_factory=list)
    yielded: list[dict] = field(default_factory=list)  # claims of backfills it left windows to
    generation: int = 0

    def pending(self, chunk: int | None = None) -> list[JobSlice]:
        return [s for s in self.slices if s.done_by is None and chunk in (None, s.chunk)]
