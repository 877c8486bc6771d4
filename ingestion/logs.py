"""Logging: one JSON object per line on Cloud Functions (what Cloud Logging parses into severity
and jsonPayload), a readable line locally. Context ids travel in `extra=`."""

from __future__ import annotations

import json
import logging
import os
import sys

CONTEXT_FIELDS = ("entity", "run_id", "message_id", "sync_mode", "status")


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


def configure() -> None:
    """JSON when running on Google Cloud (K_SERVICE is set) or INGEST_LOG_FORMAT=json."""
    logger = logging.getLogger("ingestion")
    if logger.handlers:
        return
    use_json = os.environ.get("INGEST_LOG_FORMAT", "json" if os.environ.get("K_SERVICE") else "text")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if use_json == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("INGEST_LOG_LEVEL", "INFO"))
    logger.propagate = False
