"""Typed errors: retryable (raise, Pub/Sub redelivers) or permanent (log, record, acknowledge).
The one place that decides for any exception, ours or a client library's, is
ingestion/run/decide.py.

Permanent errors are things a redelivery cannot fix (a bad message, a bad config, a 4xx from the API,
records that break the contract): they are logged with their cause, recorded in the run ledger and the
message is acknowledged. Everything transient is retryable and re-raised so Pub/Sub redelivers.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class. The entry point prefixes the entity name when it logs and records the error."""

    retryable = False


class PermanentError(IngestError):
    """A redelivery would fail the same way."""


class RetryableError(IngestError):
    """Transient: raise so Pub/Sub redelivers."""

    retryable = True


class PayloadError(PermanentError):
    """The Pub/Sub message is not a valid trigger payload."""


class ConfigError(PermanentError):
    """An entity config or its BigQuery schema is invalid."""


class ApiError(PermanentError):
    """The source API answered with something we cannot use (4xx, bad JSON, missing record path)."""


class AuthError(PermanentError):
    """The API or its token endpoint refused the credentials, even after a refresh."""


class RecordError(PermanentError):
    """Records break the entity's contract (e.g. a merge key is missing)."""


class LeaseHeld(RetryableError):
    """Another run holds the lease on an overlapping window: defer (Pub/Sub redelivers later)."""

    def __init__(self, message: str, holds: list | None = None):
        super().__init__(message)
        self.holds = holds or []  # every overlapping live claim (ingestion.planning.lease.Hold)
