"""HTTP adapter over `requests`: one pooled session per run, urllib3 retries, typed failures.

Retries (429, 5xx, connection errors, read timeouts) use urllib3's `Retry`, with exponential backoff,
jitter and `Retry-After`. What is still failing after the retries surfaces as `HttpStatusError` or
`TransportError`, so the caller decides what is permanent; URLs in messages have secrets stripped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


class HttpStatusError(Exception):
    def __init__(self, status: int, url: str, body_excerpt: str):
        self.status, self.url, self.body_excerpt = status, url, body_excerpt
        super().__init__(f"HTTP {status} from {url}: {body_excerpt}")


class TransportError(Exception):
    """Connection failure or timeout that outlived the retries."""


def new_session(
    max_retries: int = 5, backoff_factor: float = 0.5, backoff_max: float = 60, pool_size: int = 10
) -> requests.Session:
    retry = Retry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # POST here is a read (a search/report query), so it is safe to retry
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def redact_url(url: str, secret_params: Iterable[str] = ()) -> str:
    """Drop userinfo and blank out the values of secret query parameters."""
    parts = urlsplit(url)
    hidden = {p.lower() for p in secret_params}
    query = urlencode(
        [(k, "REDACTED" if k.lower() in hidden else v) for k, v in parse_qsl(parts.query, True)]
    )
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    timeout: tuple[float, float] = (10, 60),
    secret_params: Iterable[str] = (),
) -> requests.Response:
    """One request (with the session's retries); raises on anything but a 2xx."""
    try:
        resp = session.request(method, url, params=params, json=json, headers=headers, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransportError(f"{type(exc).__name__} calling {redact_url(url, secret_params)}") from None
    if not resp.ok:
        raise HttpStatusError(
            resp.status_code, redact_url(resp.url, secret_params), resp.text[:300].strip()
        )
    return resp
