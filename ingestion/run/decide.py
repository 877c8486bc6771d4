"""The one decision for any exception a run ends with: retry (raise, Pub/Sub redelivers) or give
up (log, record, acknowledge). Our own errors say it themselves (`IngestError.retryable`); the
HTTP adapter's and the Google clients' are classified here."""

from __future__ import annotations

from ingestion.contract.errors import IngestError

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
