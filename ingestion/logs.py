"""Logging: one JSON object per line on Cloud Functions (what Cloud Logging parses into severity
and jsonPayload), a readable line locally. Context ids travel in `extra=`."""

from __future__ import annotations

import json
import logging
import os
import sys
from urllib.parse import quote

CONTEXT_FIELDS = ("entity", "item", "run_id", "job_id", "message_id", "sync_mode", "status")
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
                 "logger": record.name}
        entry.update({k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)})
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


def configure() -> None:
    """JSON when running on Google Cloud (K_SERVICE is set) or INGEST_LOG_FORMAT=json."""
    global _configured
    if _configured:
        return
    _configured = True
    # Filters on a logger apply to records logged on that very logger, so put it where urllib3 logs.
    logging.getLogger("urllib3.connectionpool").addFilter(RedactSecrets())
    logger = logging.getLogger("ingestion")
    use_json = os.environ.get("INGEST_LOG_FORMAT", "json" if os.environ.get("K_SERVICE") else "text")
    handler = StdoutHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter() if use_json == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("INGEST_LOG_LEVEL", "INFO"))
    logger.propagate = False
