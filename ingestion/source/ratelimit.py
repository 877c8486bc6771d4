"""Client-side rate limits, shared by every thread of the process that calls the same source (they
cannot coordinate separate function instances): a fixed pace (`http.requests_per_second`), and
the budget the API reports in its rate-limit headers (`http.rate_limit_headers`), so the run
slows down before the API answers 429 instead of after.

Headers read (names case-insensitive): `X-RateLimit-Remaining` / `X-RateLimit-Reset` (GitHub,
and `X-Rate-Limit-*`), the IETF draft's `RateLimit-Remaining` / `RateLimit-Reset` and its
combined `RateLimit: "default";r=50;t=30` field (draft-ietf-httpapi-ratelimit-headers; also the
older `RateLimit: limit=100, remaining=50, reset=30`). A reset is seconds from now, or an instant
in epoch seconds (milliseconds) when it is that large; an instant is read against the response's
`Date`, so a skewed local clock does not matter.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ingestion.contract.errors import RetryableError


class RateLimiter:
    """At most `per_second` request starts per second."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_BUDGETS: dict[tuple[str, str, int], HeaderBudget] = {}
_LOCK = threading.Lock()


def limiter_for(source: str, per_second: float | None) -> RateLimiter | None:
    if not per_second:
        return None
    with _LOCK:
        return _LIMITERS.setdefault((source, per_second), RateLimiter(per_second))


def budget_for(source: str, host: str, reserve: int) -> HeaderBudget:
    """The budget of the API at `host` (a quota belongs to the host and the credentials, and a
    report file on a storage host has none of the API's)."""
    with _LOCK:
        key = (source, host, reserve)
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = HeaderBudget(reserve)
        return budget


@dataclass(frozen=True)
class Quota:
    """What one response says is left: `remaining` requests, refilled `reset` seconds after it
    (None: the response does not say when)."""

    remaining: int
    reset: float | None


_EPOCH_SECONDS = 1e9  # a reset this large is an instant (2001 on), not a number of seconds
_EPOCH_MILLIS = 1e12
_PAIRS = (("x-ratelimit-remaining", "x-ratelimit-reset"), ("x-rate-limit-remaining", "x-rate-limit-reset"),
          ("ratelimit-remaining", "ratelimit-reset"))
_PARAM = re.compile(r";\s*([a-z*][a-z0-9_.*-]*)\s*=\s*(\"[^\"]*\"|[^;,\s]+)")
_MEMBER = re.compile(r"\b(remaining|reset)\s*=\s*([0-9.]+)")


def read_quota(headers: Mapping[str, str], now: float | None = None) -> Quota | None:
    """The most constraining quota among the rate-limit headers of a response (names lower-cased),
    or None when it reports none (malformed values are ignored, as the IETF draft asks). `now`:
    the epoch seconds an instant-valued reset is measured from (default: the `Date` header, else
    the local clock)."""
    field = headers.get("ratelimit")
    if not field and not any(remaining in headers for remaining, _ in _PAIRS):
        return None  # most APIs: no quota reported, and the Date header need not be parsed
    if now is None:
        now = _date(headers.get("date")) or time.time()
    found = []
    for remaining_name, reset_name in _PAIRS:
        remaining = _number(headers.get(remaining_name))
        if remaining is not None:
            found.append(Quota(int(remaining), _seconds(_number(headers.get(reset_name)), now)))
    if field:
        found.extend(_combined(field, now))
    # the fewest requests left; among equals, the longest wait
    return min(found, key=lambda q: (q.remaining, -(q.reset or 0)), default=None)


def _combined(field: str, now: float) -> list[Quota]:
    """The quotas of a `RateLimit` field: a list of `"policy";r=…;t=…` items (draft 07 on), or
    one `limit=…, remaining=…, reset=…` dictionary (earlier drafts)."""
    quotas = []
    for item in field.split(","):
        params = {k: v.strip('"') for k, v in _PARAM.findall(item)}
        remaining = _number(params.get("r"))
        if remaining is not None:
            quotas.append(Quota(int(remaining), _seconds(_number(params.get("t")), now)))
    if not quotas:
        members = dict(_MEMBER.findall(field))
        remaining = _number(members.get("remaining"))
        if remaining is not None:
            quotas.append(Quota(int(remaining), _seconds(_number(members.get("reset")), now)))
    return quotas


def _number(text: str | None) -> float | None:
    try:
        value = float(text.split(",")[0]) if text else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def _seconds(reset: float | None, now: float) -> float | None:
    """Seconds until `reset`: itself, or (an instant in epoch seconds or milliseconds) minus now."""
    if reset is None:
        return None
    if reset >= _EPOCH_MILLIS:
        reset = reset / 1000 - now
    elif reset >= _EPOCH_SECONDS:
        reset -= now
    return max(0.0, reset)


def _date(text: str | None) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None


class HeaderBudget:
    """The requests the API says are left before its next reset, shared by every thread calling
    the same source. `start` before each request waits for the reset when the requests left
    (minus those in flight, which the last report may not count yet) are down to `reserve`;
    `done` takes each response's report."""

    def __init__(self, reserve: int):
        self.reserve = reserve
        self.remaining: int | None = None  # the lowest count reported in this window
        self.reset_at: float | None = None  # time.monotonic() when the window refills
        self.in_flight = 0
        self.lock = threading.Lock()

    def start(self, max_wait: float, where: Callable[[], str]) -> None:
        """Before a request: wait for the reset when the budget is down to the reserve; a wait
        beyond `max_wait` is a retryable error instead (Pub/Sub redelivers later), naming the
        API as `where()` (redacted) describes it."""
        with self.lock:  # held while waiting: every thread waits for the same reset
            now = time.monotonic()
            if self.reset_at is not None and now >= self.reset_at:
                self.remaining = self.reset_at = None  # a new window: unknown until reported
            if self.remaining is not None and self.reset_at is not None and \
                    self.remaining - self.in_flight <= self.reserve:
                delay = self.reset_at - now
                if delay > max_wait:
                    raise RetryableError(
                        f"rate limit of {where()}: {self.remaining} request(s) left until the reset in "
                        f"{delay:.0f} s, beyond http.max_retry_wait_seconds ({max_wait:g} s); a "
                        "redelivery will continue")
                time.sleep(delay)
                self.remaining = self.reset_at = None
            self.in_flight += 1

    def done(self, headers: Mapping[str, str] | None) -> None:
        """After a request (also a failed one: `headers` None): take the response's report."""
        quota = read_quota(headers) if headers else None
        with self.lock:
            self.in_flight = max(0, self.in_flight - 1)
            if quota is None:
                return
            reset_at = None if quota.reset is None else time.monotonic() + quota.reset
            later = reset_at is not None and (self.reset_at is None or reset_at > self.reset_at + 1)
            if self.remaining is None or later or reset_at is None:
                self.remaining, self.reset_at = quota.remaining, reset_at  # a (new) window
            else:  # the same window: the count only goes down (responses may come out of order)
                self.remaining = min(self.remaining, quota.remaining)
