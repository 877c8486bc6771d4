"""Typed errors and the single place that decides: retry (raise, Pub/Sub redelivers) or give up (ack).

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
        self.holds = holds or []  # every overlapping live claim (ingestion.lease.Hold)


_CONCURRENT_DML = "Could not serialize access"


def is_retryable(exc: BaseException) -> bool:
    """The one decision point. Unknown exceptions count as retryable: the message is not lost, and the
    subscription's dead-letter policy bounds the redeliveries. (The clients' error classes are
    imported on first use, which keeps importing the function module, i.e. a cold start, fast.)"""
    from google.api_core import exceptions as gexc

    from utils.requests_api import RETRY_STATUSES, HttpStatusError, TransportError

    if isinstance(exc, IngestError):
        return exc.retryable
    if isinstance(exc, HttpStatusError):  # still failing after the session's own retries
        return exc.status in RETRY_STATUSES or exc.status == 408
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, (gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway,
                        gexc.ServiceUnavailable, gexc.GatewayTimeout, gexc.DeadlineExceeded,
                        gexc.RetryError)):
        return True
    if isinstance(exc, gexc.GoogleAPICallError):
        # 4xx from Google APIs (bad SQL, schema mismatch, permission) will not fix themselves...
        # except conflicts with a concurrent writer, which a retry resolves: 408/409, a 412 on a
        # table's etag, and BigQuery's 400 for concurrent DML on the same table.
        return exc.code in (408, 409, 412) or _CONCURRENT_DML in str(exc)
    return True
