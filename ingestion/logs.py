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
from urllib.parse import quote

CONTEXT_FIELDS = ("entity", "item", "run_id", "job_id", "message_id", "sync_mode", "status")
LABELS = ("entity", "run_id", "message_id")  # indexed by Cloud Logging: filter on labels.entity=...
_context: ContextVar[dict] = ContextVar("log_context", default={})  # noqa: B039 - never mutated
_SECRETS: set[str] = set()
_configured = False


def register_secret(value: str) -> None:
    """Never let `value` reach a log line (e.g. urllib3 logs retried URLs with their query string,
    which may hold an API key)."""
    if len(value) >= 4:
        _SECRETS.add(value)


def scrub(content: bytes) -> bytes:
    """`content` with registered secret values (8+ characters, as is or URL-encoded) replaced by
    REDACTED: APIs echo query-string tokens back in their next-page links, and raw pages are
    stored. Shorter values (a username) could collide with real data, so they are left."""
    for secret in _SECRETS:
        if len(secret) >= 8:
            for form in {secret, quote(secret, safe="")}:
                content = content.replace(form.encode(), b"REDACTED")
    return content


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
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            if any(secret in message for secret in _SECRETS):
                for secret in _SECRETS:
                    message = message.replace(secret, "REDACTED")
                record.msg, record.args = message, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"severity": record.levelname, "message": record.getMessage(),
                 "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                 "logger": record.name,
                 "logging.googleapis.com/sourceLocation": {
                     "file": record.pathname, "line": record.lineno, "function": record.funcName}}
        entry.update({k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)})
        labels = {k: str(entry[k]) for k in LABELS if k in entry}
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k))
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.getMessage()}"
        line = f"{line}  [{context}]" if context else line
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


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
