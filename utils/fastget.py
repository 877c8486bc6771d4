"""A page GET over the standard library's `http.client`, for the requests `plain_get` prepares.

requests' adapter and urllib3's `urlopen` cost ~0.2 ms of CPU per request beyond the socket work
(a pool key per request, a retry and timeout object, two response wrappers, a cookie jar): on a
fast API, a fifth of a 100-record page's whole cost (`python -m bench`). This sends the same
request on pooled `http.client` connections and keeps the semantics that matter:

- **retries** are the session's urllib3 `Retry` (`BoundedRetry`), driven by its own `increment`,
  `is_retry` and `sleep`: the same statuses, `Retry-After`, counts, backoff and wait budget, and
  the same error classes fed to it (a refused connection, a connect or read timeout, a connection
  cut mid-answer);
- **failures** surface as the exceptions requests' adapter raises for the same urllib3 error;
- **TLS** verifies as requests' `verify` says (certifi's bundle, a bundle or directory, or off);
- **the response** is a `requests.Response`: a plain answer (whole, unencoded, no cookie, no
  redirect) with its body read in, anything else with a urllib3 response over the body as `raw`,
  so decoding, cookies and redirects stay requests' and urllib3's (`utils/requests_api.py`).

Anything else (a client certificate, a CA path that does not exist, a session not made by
`new_session`) returns None before sending: the caller uses requests' adapter.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import socket
import ssl
import threading
from functools import lru_cache
from typing import Any

import certifi
import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPHeaderDict, HTTPResponse
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.util.wait import wait_for_read

log = logging.getLogger("utils.requests_api")


class TLSConnection(http.client.HTTPConnection):
    """An `http.client` connection whose socket `exchange` wraps in TLS once the TCP connection
    is up, so a failed handshake is told from a failed connect as urllib3 tells them (a read
    error, not a connect error); port 443 is left out of the Host header, as urllib3 leaves it."""

    default_port = http.client.HTTPS_PORT


class Pool:
    """Idle keep-alive connections to one origin, most recently used first; thread-safe."""

    def __init__(self, scheme: str, host: str, port: int | None, context: ssl.SSLContext | None,
                 max_idle: int):
        self.scheme, self.host, self.port, self.context = scheme, host, port, context
        self.max_idle, self.closed = max_idle, False
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def take(self) -> http.client.HTTPConnection:
        """An idle connection still open, or a new one (not yet connected)."""
        while True:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                kind = TLSConnection if self.scheme == "https" else http.client.HTTPConnection
                return kind(self.host, self.port)
            if conn.sock is not None and not wait_for_read(conn.sock, timeout=0.0):
                return conn  # nothing to read on an idle connection: the server has not closed it
            conn.close()

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            if not self.closed and len(self.idle) < self.max_idle:
                self.idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle, self.closed = self.idle, [], True
        for conn in idle:
            conn.close()


@lru_cache(maxsize=8)
def tls_context(verify: bool | str, _version: float = 0.0) -> ssl.SSLContext:
    """urllib3's TLS context for what requests' `verify` means: certifi's bundle (True), a bundle
    file or a directory of certificates (a path; `_version`, its mtime, reloads a rotated one), or
    no verification (False). urllib3's context also checks a certificate's names only (never its
    common name) and offers ALPN http/1.1."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_NONE if verify is False else ssl.CERT_REQUIRED)
    context.set_alpn_protocols(["http/1.1"])
    if verify is False:
        return context
    path = certifi.where() if verify is True else verify
    if os.path.isdir(path):
        context.load_verify_locations(capath=path)
    else:
        context.load_verify_locations(cafile=path)
    context.check_hostname = True
    return context


def pool_for(adapter: Any, url: str, verify: Any, cert: Any) -> Pool | None:
    """The adapter's pool for `url`'s origin and `verify`; None where this path does not apply.
    As urllib3's pool manager, it keeps `pool_connections` origins (the oldest closed beyond) and
    `pool_maxsize` idle connections to each."""
    pools = getattr(adapter, "fast_pools", None)
    if pools is None or cert is not None:
        return None
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0]
    key = (scheme, netloc, verify)
    pool = pools.get(key)
    if pool is None:
        if scheme == "https" and not (isinstance(verify, bool)
                                      or (isinstance(verify, str) and os.path.exists(verify))):
            return None  # requests raises its own error for a missing CA path
        host, _, port = netloc.partition(":")  # plain_get's URLs: a name or IPv4, no userinfo
        context = tls_context(verify, 0.0 if isinstance(verify, bool) else os.stat(verify).st_mtime) \
            if scheme == "https" else None
        while len(pools) >= max(1, getattr(adapter, "_pool_connections", 10)):
            pools.pop(next(iter(pools))).close()
        pool = pools.setdefault(key, Pool(scheme, host, int(port) if port else None, context,
                                          getattr(adapter, "_pool_maxsize", 10)))
    return pool


def send(adapter: Any, prepared: requests.PreparedRequest, timeout: Any, verify: Any = True,
         cert: Any = None, **_: Any) -> requests.Response | None:
    """`adapter.send(prepared, timeout=..., verify=..., cert=...)` for a `plain_get` request with
    no proxy, or None (nothing sent) where this path does not apply."""
    pool = pool_for(adapter, prepared.url, verify, cert)
    if pool is None:
        return None
    connect_timeout, read_timeout = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    url = prepared.url
    target = "/" + url.partition("://")[2].partition("/")[2]
    headers = dict(prepared.headers)
    retries: Retry = adapter.max_retries
    while True:
        try:
            status, reason, header_list, body, original = exchange(
                pool, target, headers, connect_timeout, read_timeout, url)
        except (ConnectTimeoutError, ReadTimeoutError, ProtocolError, Urllib3SSLError) as error:
            try:
                retries = retries.increment("GET", url, error=error)
            except MaxRetryError as exhausted:
                raise as_requests_error(exhausted, prepared) from None
            except (ConnectTimeoutError, ReadTimeoutError, ProtocolError, Urllib3SSLError) as final:
                raise as_requests_error(final, prepared) from None  # not retried (as urllib3 would)
            # the target is not logged: its query may hold a key (the caller logs it redacted)
            log.warning("retrying (%s retries left) after %s", retries.total, type(error).__name__)
            retries.sleep()
            continue
        retry = retries.is_retry("GET", status, any(v for n, v in header_list if n.lower() == "retry-after"))
        if not retry:  # (a Response's truth is its status: compared with None)
            resp = plain_response(adapter, prepared, status, reason, header_list, body)
            if resp is not None:
                return resp
        stream = body if isinstance(body, BrokenBody) else io.BytesIO(body)
        try:
            raw = HTTPResponse(body=stream, headers=HTTPHeaderDict(header_list), status=status,
                               reason=reason, preload_content=False, decode_content=False,
                               original_response=original, retries=retries, request_method="GET",
                               request_url=url)
        except InvalidHeader as bad:  # conflicting Content-Length values, as the adapter maps it
            raise requests.exceptions.InvalidHeader(bad, request=prepared) from None
        if retry:
            try:
                retries = retries.increment("GET", url, response=raw)
            except MaxRetryError as exhausted:
                if retries.raise_on_status:
                    raise as_requests_error(exhausted, prepared) from None
                return response(adapter, prepared, status, reason, CaseInsensitiveDict(raw.headers), raw)
            retries.sleep(raw)
            continue
        return response(adapter, prepared, status, reason, CaseInsensitiveDict(raw.headers), raw)


def exchange(pool: Pool, target: str, headers: dict[str, str], connect_timeout: float,
             read_timeout: float, url: str) -> tuple[int, str, list[tuple[str, str]], Any, Any]:
    """One request on a pooled connection, body read whole (or a `BrokenBody`); urllib3's error
    for what failed before the answer's head arrived."""
    conn = pool.take()
    connected = conn.sock is not None
    try:
        if not connected:
            conn.timeout = connect_timeout
            http.client.HTTPConnection.connect(conn)  # TCP only
            connected = True
            conn.sock.settimeout(read_timeout)  # the handshake too, as urllib3 times it
            if pool.context is not None:
                conn.sock = pool.context.wrap_socket(conn.sock, server_hostname=conn.host.rstrip("."))
        conn.sock.settimeout(read_timeout)
        conn.request("GET", target, headers=headers)
        answer = conn.getresponse()
    except Exception as exc:
        conn.close()
        mapped = urllib3_error(exc, connected, conn, url)
        if mapped is exc:
            raise
        raise mapped from exc
    try:
        body: bytes | BrokenBody = answer.read()
    except Exception as exc:  # the caller's body read raises it, and retries as for urllib3's
        conn.close()
        return answer.status, answer.reason, answer.getheaders(), BrokenBody(exc, url), answer
    if answer.will_close:  # the server ends the connection after this answer
        conn.close()
    else:
        pool.give_back(conn)
    return answer.status, answer.reason, answer.getheaders(), body, answer


class BrokenBody(io.RawIOBase):
    """A body that broke off while read: reading it raises what urllib3's read would have."""

    def __init__(self, exc: Exception, url: str):
        super().__init__()
        if isinstance(exc, (socket.timeout, TimeoutError)):
            self.error: Exception = ReadTimeoutError(None, url, "Read timed out.")
        else:
            self.error = ProtocolError(f"Connection broken: {exc!r}", exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            return 0  # read again (a redirect's body, drained): empty, as urllib3's closed stream
        self.close()
        raise self.error


def urllib3_error(exc: Exception, connected: bool, conn: Any, url: str) -> Exception:
    """The urllib3 error `urlopen` would feed its retries for `exc`; others unchanged."""
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return Urllib3SSLError(exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        if not connected:
            return ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.")
        return ReadTimeoutError(None, url, "Read timed out.")
    if isinstance(exc, OSError) and not connected:
        return NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return ProtocolError("Connection aborted.", exc)
    return exc


def as_requests_error(exc: BaseException, prepared: requests.PreparedRequest) -> Exception:
    """The exception requests' `HTTPAdapter.send` raises for urllib3's `exc`."""
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.ConnectTimeout(exc, request=prepared)
    if isinstance(reason, ResponseError):
        return requests.exceptions.RetryError(exc, request=prepared)
    if isinstance(reason, Urllib3SSLError):
        return requests.exceptions.SSLError(exc, request=prepared)
    if isinstance(exc, ReadTimeoutError):
        return requests.ReadTimeout(exc, request=prepared)
    return requests.ConnectionError(exc, request=prepared)


def plain_response(adapter: Any, prepared: requests.PreparedRequest, status: int, reason: str,
                   header_list: list[tuple[str, str]], body: Any) -> requests.Response | None:
    """What most answers are, without urllib3's response around them (~25 µs a page): a whole,
    unencoded body, no cookie to keep, no redirect, one Content-Length; its body read in. None for
    anything else, which goes through urllib3's response: a gzip body is then decoded, and a
    broken one fails, by `requests_api.read_body` as for requests' own path."""
    if isinstance(body, BrokenBody):
        return None
    headers = CaseInsensitiveDict()
    for name, value in header_list:  # repeated fields joined, as urllib3's HTTPHeaderDict joins them
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if ("set-cookie" in headers or "set-cookie2" in headers or "," in headers.get("content-length", "")
            or (status in requests.models.REDIRECT_STATI and "location" in headers)
            or headers.get("content-encoding", "").strip().lower() not in ("", "identity")):
        return None
    resp = response(adapter, prepared, status, reason, headers)
    resp._content, resp._content_consumed = body, True  # read (see requests_api.read_body)
    return resp


def response(adapter: Any, prepared: requests.PreparedRequest, status: int, reason: str,
             headers: CaseInsensitiveDict, raw: HTTPResponse | None = None) -> requests.Response:
    """What requests' `HTTPAdapter.build_response` makes of an answer (`raw`: urllib3's around it)."""
    resp = requests.Response()
    resp.status_code, resp.reason, resp.headers, resp.raw = status, reason, headers, raw
    resp.encoding = get_encoding_from_headers(headers)
    resp.url, resp.request, resp.connection = prepared.url, prepared, adapter
    if raw is not None and ("set-cookie" in headers or "set-cookie2" in headers):
        requests.cookies.extract_cookies_to_jar(resp.cookies, prepared, raw)
    return resp
