"""Pieces several vendor simulators share: opaque page cursors, the bearer token of a request,
random instants at an API's precision and the millisecond instants several APIs write."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request


def opaque(text: str, prefix: bytes = b"") -> str:
    """A cursor a client must send back untouched: standard base64, so it may hold `+`, `/` and `=`
    (a client that does not URL-encode it sends a space for `+` and breaks)."""
    return base64.b64encode(prefix + text.encode()).decode()


def unwrap(token: str, prefix: bytes = b"") -> str | None:
    """The text inside a cursor made by `opaque`, or None for one this API never issued."""
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError:
        return None
    if not raw.startswith(prefix):
        return None
    try:
        return raw[len(prefix):].decode()
    except UnicodeDecodeError:
        return None


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def instants(rng: random.Random, start: datetime, end: datetime, count: int,
             unit: timedelta = timedelta(seconds=1)) -> list[datetime]:
    """`count` distinct random instants in [start, end), cut to `unit` (the precision the API
    writes), oldest first."""
    steps = int((end - start) / unit)
    return [start + unit * n for n in sorted(rng.sample(range(steps), count))]



def millis_z(value: datetime) -> str:
    """An instant as HubSpot and GitLab write it: UTC, exactly three fractional digits, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
