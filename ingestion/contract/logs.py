"""Logging: one JSON object per line on Cloud Functions (what Cloud Logging parses into severity,
timestamp, source location, labels and jsonPayload), a readable line locally. The ids of the run
being served (entity, run, message, job) are set once with `log_context` and added to every line
logged inside it, urllib3's included; `extra=` can add more."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from ingestion.contract import redact

CONTEXT_FIELDS = ("entity", "item", "run_id", "job_id", "message_id", "sync_mode", "status")
LABELS = ("entity", "run_id", "message_id")  # indexed by Cloud Logging: filter on labels.entity=...
_context: ContextVar[dict] = ContextVar("log_context", default={})  # noqa: B039 - never mutated
_configured = False
# Cloud Logging refuses entries over 256 KB: every field is capped well below, with a visible marker.
FIELD_LIMIT = 2_000  # a context value (an entity name, a run id)
MESSAGE_LIMIT = 32_000
STACK_LIMIT = 64_000


def register_secret(value: str) -> None:
    """Never let `value` leave the process in a text (see ingestion/contract/redact.py)."""
    redact.register_secret(value)


def scrub(content: bytes) -> bytes:
    """Raw page bytes with registered secret values masked (ingestion/contract/redact.py)."""
    return redact.scrub(content)


def cap(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    return text if len(text) <= limit else f"{text[:limit]}… [truncated {len(text) - limit} characters]"


@contextlib.contextmanager
def log_context(**fields) -> Iterator[None]:
    """Add `fields` (None values skipped) to every log line written inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class AddContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactSecrets(logging.Filter):
    """On a logger (urllib3 logs retried URLs with their query strings), for every handler; the
    formatters below redact their whole output again (stack traces, extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = redact.redact(cap(record.getMessage(), MESSAGE_LIMIT))
        entry = {"severity": record.levelname, "message": message,
                 "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "logger": record.name,
                 "logging.googleapis.com/sourceLocation": {
                     "file": record.pathname, "line": record.lineno, "function": record.funcName}}
        entry.update({k: cap(str(getattr(record, k)), FIELD_LIMIT)
                      for k in CONTEXT_FIELDS if hasattr(record, k)})
        labels = {k: str(entry[k]) for k in LABELS if k in entry}
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        if record.exc_info:
            entry["stack_trace"] = redact.redact(cap(self.formatException(record.exc_info), STACK_LIMIT))
        return redact.redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={cap(str(getattr(record, k)), FIELD_LIMIT)}"
                           for k in CONTEXT_FIELDS if hasattr(record, k))
        message = cap(record.getMessage(), MESSAGE_LIMIT)
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {message}"
        line = f"{line}  [{context}]" if context else line
        if record.exc_info:
            line += "\n" + cap(self.formatException(record.exc_info), STACK_LIMIT)
        return redact.redact(line)


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (a CLI under test swaps it)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def make_handler(handler: logging.Handler, json_lines: bool) -> logging.Handler:
    """`handler` with the run's ids added, secrets redacted and the chosen format."""
    handler.addFilter(AddContext())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    return handler


def configure() -> None:
    """JSON when running on Google Cloud (K_SERVICE is set) or INGEST_LOG_FORMAT=json."""
    global _configured
    if _configured:
        return
    _configured = True
    # Filters on a logger apply to records logged on that very logger, so put it where urllib3 logs.
    logging.getLogger("urllib3.connectionpool").addFilter(RedactSecrets())
    logging.getLogger("urllib3.connectionpool").addFilter(AddContext())
    use_json = os.environ.get("INGEST_LOG_FORMAT", "json" if os.environ.get("K_SERVICE") else "text")
    handler = make_handler(StdoutHandler(), json_lines=use_json == "json")
    # On the root logger, so the libraries' warnings (urllib3 retries, google clients) come out
    # in the same format; the product's own INFO lines pass because its logger is at INFO.
    logging.getLogger().addHandler(handler)
    logging.getLogger("ingestion").setLevel(os.environ.get("INGEST_LOG_LEVEL", "INFO"))
