"""HTTP adapter over `requests`: one pooled session per run, urllib3 retries, typed failures.

Retries (429, 5xx, connection errors, read timeouts, and a connection cut while the body is read)
use urllib3's `Retry`, with exponential backoff, jitter and `Retry-After` (seconds or HTTP date),
within a bound on the total time spent waiting. What is still failing after the retries surfaces as
`HttpStatusError` or `TransportError`, so the caller decides what is permanent; URLs in messages have
secrets stripped.
"""

from __future__ import annotations

import gzip
import logging
import re
import time
import zlib
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from weakref import WeakKeyDictionary

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from utils import fastget

RETRY_STATUSES = (429, 500, 502, 503, 504)
# What reading a body can raise when the connection breaks (requests' wrappers of urllib3's
# IncompleteRead/ProtocolError, DecodeError and read timeouts; urllib3's own; the stdlib gzip's).
BODY_ERRORS = (requests.RequestException, Urllib3Error, EOFError, gzip.BadGzipFile, zlib.error)
log = logging.getLogger("utils.requests_api")
# The retry state of the request this thread is sending, after its body broke off: the next
# attempt resumes from it, so one request has one retry count and one wait budget.
_resumed: ContextVar[Retry | None] = ContextVar("resumed_retry", default=None)


class HttpStatusError(Exception):
    """A status outside 2xx after the retries; `response` is the answer itself, body read."""

    def __init__(self, status: int, url: str, body_excerpt: str, response: requests.Response | None = None):
        self.status, self.url, self.body_excerpt, self.response = status, url, body_excerpt, response
        super().__init__(f"HTTP {status} from {url}: {body_excerpt}")


class TransportError(Exception):
    """Connection failure or timeout that outlived the retries."""


class RetryBudgetExceeded(Exception):
    """The next wait (backoff or the server's `Retry-After`) would exceed the total wait budget."""


class BoundedRetry(Retry):
    """urllib3's `Retry` with a cap on the total time slept across the retries of one request, so a
    `Retry-After: 3600` or a long outage ends in a retryable error instead of a stuck function."""

    def __init__(self, *args, max_wait: float = 300.0, waited: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_wait, self.waited = max_wait, waited

    def new(self, **kw):
        kw.setdefault("max_wait", self.max_wait)
        kw.setdefault("waited", self.waited)
        return super().new(**kw)

    def sleep(self, response=None) -> None:
        delay = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        delay = delay or self.get_backoff_time()
        if self.waited + delay > self.max_wait:
            raise RetryBudgetExceeded(
                f"retrying would wait {delay:.0f} s more after {self.waited:.0f} s "
                f"(budget {self.max_wait:.0f} s)")
        self.waited += delay
        if delay > 0:
            time.sleep(delay)


class ResumingAdapter(HTTPAdapter):
    """An `HTTPAdapter` whose urllib3 retries start from `_resumed` when `send` sets it (requests
    has no per-request retry argument), else from the session's `Retry`."""

    @property
    def max_retries(self) -> Retry:
        resumed = _resumed.get()
        return self._max_retries if resumed is None else resumed

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._max_retries = value

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fast_pools: dict[tuple, fastget.Pool] = {}  # utils/fastget.py's, per origin and verify

    def close(self) -> None:
        super().close()
        for pool in list(self.fast_pools.values()):
            pool.close()


def new_session(
    max_retries: int = 5, backoff_factor: float = 0.5, backoff_max: float = 60, pool_size: int = 10,
    max_wait: float = 300.0,
) -> requests.Session:
    retry = BoundedRetry(
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
        max_wait=max_wait,
    )
    adapter = ResumingAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.trust_env = False  # read once per origin instead, by `environment`
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


# Per session, per origin: what requests would read from the environment for every request.
_ENVIRONMENT: WeakKeyDictionary[requests.Session, dict[tuple[str, str], tuple]] = WeakKeyDictionary()
_ENVIRONMENT_READER = requests.Session()  # trust_env: reads the variables exactly as requests does


def environment(session: requests.Session, url: str) -> tuple[dict[str, Any], Any]:
    """The settings requests takes from the environment for `url` (proxies and no_proxy, the CA
    bundle variables; the send's keyword arguments) and its netrc credentials (an auth, or None),
    read once per session and origin. Our sessions do not trust the environment themselves
    (`new_session`): requests would read it on every request, and look for a netrc file on every
    request too, ~0.3 ms of a ~1.2 ms small GET (python -m bench). (A redirect to another host keeps
    the first host's settings.)"""
    parts = urlsplit(url)
    known = _ENVIRONMENT.setdefault(session, {})
    key = (parts.scheme, parts.netloc)
    if (cached := known.get(key)) is None:
        env = _ENVIRONMENT_READER.merge_environment_settings(url, {}, True, None, None)
        settings = session.merge_environment_settings(url, env["proxies"], True, env["verify"], None)
        cached = known[key] = (settings, requests.utils.get_netrc_auth(url) if session.auth is None else None)
    settings, netrc = cached
    return {**settings, "proxies": dict(settings["proxies"])}, netrc


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
    data: Any = None,
    ok_statuses: Iterable[int] = (),
) -> requests.Response:
    """One request, with the session's retries (the body's read included); raises on anything but
    a 2xx or `ok_statuses`."""
    resumed: Retry | None = None
    while True:
        token = _resumed.set(resumed)
        try:
            settings, netrc = environment(session, url)
            prepared = plain_get(session, method, url, params, headers, settings, netrc) \
                if json is None and not data else None
            if prepared is not None:
                resp = send_prepared(session, prepared, timeout, settings)
            else:
                request = requests.Request(method, url, headers=headers, data=data or {}, json=json,
                                           params=params or {}, auth=netrc)
                prepared = session.prepare_request(request)
                resp = session.send(prepared, timeout=timeout, allow_redirects=True, **settings)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransportError(f"{type(exc).__name__} calling {redact_url(url, secret_params)}") from None
        except RetryBudgetExceeded as exc:
            raise TransportError(f"gave up on {redact_url(url, secret_params)}: {exc}") from None
        finally:
            _resumed.reset(token)
        try:
            read_body(resp)
            break
        except BODY_ERRORS as exc:
            resp.close()
            resumed = retry_after_cut(resp, session, method, redact_url(url, secret_params), exc)
    if not resp.ok and resp.status_code not in ok_statuses:
        raise HttpStatusError(
            resp.status_code, redact_url(resp.url, secret_params), resp.text[:300].strip(), resp
        )
    return resp


# A URL requests would send as written: http(s), a lower-case host, a path, nothing to quote or
# normalise (no %-escapes, dot segments, userinfo, fragment, brackets, spaces or non-ASCII).
_PLAIN_URL = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9\-_~:/?&=+,;!$'()*@.]*")
_PLAIN_VALUE = (str, int, float)


def plain_get(session: requests.Session, method: str, url: str, params: dict[str, Any] | None,
              headers: dict[str, str] | None, settings: dict[str, Any], netrc: Any,
              ) -> requests.PreparedRequest | None:
    """The request `session.prepare_request` would make, without its cost, for what a page
    usually is: a GET with scalar query parameters and header values, to a URL requests leaves
    as is, from a session with no cookies, auth, hooks or proxy for it. Merging the session's
    settings and re-parsing the URL is ~0.4 ms of a ~0.9 ms small GET on loopback (python -m
    bench): a thousand pages, 0.4 s. None for anything else: requests prepares it.
    tests/unit/test_plain_get.py compares both on every shape this takes."""
    if (method != "GET" or session.cookies or session.auth is not None or netrc is not None
            or any(session.hooks.values()) or "/." in url or not _PLAIN_URL.fullmatch(url)
            or url.endswith(("?", "&"))  # requests drops or keeps the separator by the params
            or (settings["proxies"] and requests.utils.select_proxy(url, settings["proxies"]) is not None)):
        return None
    pairs = [(k, v) for k, v in (params or {}).items() if v is not None]
    if any(not isinstance(k, str) or not isinstance(v, _PLAIN_VALUE) for k, v in pairs):
        return None
    merged = requests.structures.CaseInsensitiveDict(session.headers)
    for name, value in (headers or {}).items():
        if value is None:
            merged.pop(name, None)
        elif not isinstance(name, str) or not isinstance(value, str):
            return None
        else:
            requests.utils.check_header_validity((name, value))  # requests' InvalidHeader
            merged[name] = value
    query = urlencode(pairs)
    prepared = requests.PreparedRequest()
    prepared.method, prepared.headers, prepared.body = method, merged, None
    prepared.url = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
    return prepared


def send_prepared(session: requests.Session, prepared: requests.PreparedRequest,
                  timeout: tuple[float, float], settings: dict[str, Any]) -> requests.Response:
    """`session.send(prepared, allow_redirects=True)` for a `plain_get` request: the adapter's
    send (pool, TLS, requests' exceptions), then what the session adds — its cookie jar learns
    what the answer sets, a redirect is followed as requests follows it."""
    adapter = session.get_adapter(prepared.url)
    resp = fastget.send(adapter, prepared, timeout, **settings)
    if resp is None:  # not for the stdlib path (a client certificate, say): requests' own
        resp = adapter.send(prepared, timeout=timeout, **settings)
    if "set-cookie" in resp.headers or "set-cookie2" in resp.headers:
        requests.cookies.extract_cookies_to_jar(session.cookies, prepared, resp.raw)
    if resp.is_redirect:
        prepared.prepare_cookies(requests.cookies.RequestsCookieJar())  # what requests carries over
        history = [resp, *session.resolve_redirects(resp, prepared, timeout=timeout, **settings)]
        resp = history.pop()
        resp.history = history
    return resp


def read_body(resp: requests.Response) -> None:
    """Read the whole body now, inside the retry loop, in one read: `resp.content` reads it 10 KiB
    at a time through urllib3's stream, ~3 ms of CPU for a 300 KB page against ~0.5 ms (`python -m
    bench`). A gzip body is decoded by the stdlib, which checks the stream's end marker: urllib3's
    streaming decoder takes a stream cut short (say, a close-delimited body) for a complete one.
    A body cut short raises urllib3's errors (in BODY_ERRORS), as `content` raised requests'.
    A plain answer on the stdlib path comes read already (`fastget.plain_response`)."""
    if resp._content_consumed:
        return
    if resp.headers.get("Content-Encoding", "").strip().lower() in ("gzip", "x-gzip"):
        body = gzip.decompress(resp.raw.read(decode_content=False))
    else:
        body = resp.raw.read(decode_content=True)
    # requests has no public setter: `content` returns `_content` once it is set, and a consumed
    # response no longer closes its connection on `close()` (urllib3 released it after the read)
    resp._content, resp._content_consumed = body, True


def retry_after_cut(resp: requests.Response, session: requests.Session, method: str, where: str,
                    exc: Exception) -> Retry:
    """The retry state to resume the request with after its body broke off, once its backoff is
    waited: `resp`'s own (which counts the retries it took to get the headers) counting one more
    read error. `TransportError` when the retries or the wait budget are spent."""
    state = resp.raw.retries or session.get_adapter(resp.url).max_retries
    cause = f"{type(exc).__name__} reading the body from {where}"
    try:
        state = state.increment(method, where, error=ProtocolError(cause, exc))
        log.warning("retrying (%s retries left): %s", state.total, cause)
        state.sleep()
    except (MaxRetryError, ProtocolError):
        raise TransportError(f"{cause}, after {len(state.history) + 1} attempts") from None
    except RetryBudgetExceeded as budget:
        raise TransportError(f"gave up on {where}: {budget}") from None
    return state
