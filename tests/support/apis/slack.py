"""Slack's Web API `conversations.history`, written from Slack's documentation (docs.slack.dev:
the method's reference, "Pagination", "Rate limits", the Web API's error envelope).

`GET /api/conversations.history?channel=&oldest=&latest=&inclusive=&limit=&cursor=` answers a
channel's messages newest first: `{"ok": true, "messages": [...], "has_more", "pin_count",
"response_metadata": {"next_cursor"}}`.

- `oldest` / `latest` are Unix timestamps with microseconds as text (`"1512085950.000216"`, a
  message `ts`); messages exactly at either bound are left out unless `inclusive=true` (or `1`).
  Without them the whole history is read; a value that is not a timestamp is `invalid_ts_oldest` /
  `invalid_ts_latest`.
- `limit` defaults to 100 (at most 999) and "fewer than the requested number of items may be
  returned": this workspace serves at most `serve_at_most` per page even when more remain.
- `next_cursor` (base64 of `next_ts:<ts>`) is sent back as `cursor`; it is `""` on the last page,
  together with `has_more: false`.
- Errors come back as HTTP 200 `{"ok": false, "error": "<code>"}`: `not_authed` (no token),
  `invalid_auth` (an unknown token), `channel_not_found`, `invalid_cursor`; `ratelimited` in a 200
  for the pages listed in `ratelimited_pages`, and a real `429` with `Retry-After` (seconds) for
  those in `http_429_pages` (each once; 1 = the first page of a query).
- A message `ts` is unique within its channel only: two channels may hold the same `ts`.
- A bot token (`xoxb-…`) as `Authorization: Bearer` (or a `token` parameter).
"""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.kit import bearer, instants, opaque, unwrap

HISTORY = "/api/conversations.history"
CHANNELS = ("C0123456789", "C0987654321")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = re.compile(r"^\d+(\.\d{1,6})?$")


def slack_ts(value: datetime) -> str:
    """A message `ts`: seconds since the epoch, a dot, six digits of microseconds."""
    micros = (value - EPOCH) // timedelta(microseconds=1)
    return f"{micros // 10**6}.{micros % 10**6:06d}"


def ts_instant(ts: str) -> datetime:
    return EPOCH + timedelta(microseconds=int(Decimal(ts) * 10**6))


def fail(error: str, status: int = 200, headers: dict | None = None) -> Response:
    return json_response({"ok": False, "error": error}, status, headers)


class SlackWorkspace(SimApi):
    """Two channels' history, from late February to just before NOW; one message sits exactly
    on `boundary` and one `ts` appears in both channels."""

    def __init__(self, per_channel: int = 30, seed: int = 5, serve_at_most: int = 9,
                 boundary: datetime = datetime(2026, 3, 8, tzinfo=UTC),
                 ratelimited_pages: tuple[int, ...] = (), http_429_pages: tuple[int, ...] = (),
                 retry_after: int = 1):
        super().__init__()
        self.token = "xoxb-" + fake_credential("slack")
        self.serve_at_most, self.retry_after = serve_at_most, retry_after
        self.ratelimited_pages, self.http_429_pages = set(ratelimited_pages), set(http_429_pages)
        # (channel, oldest, latest, cursor) → (page, status, when) of each refusal; when it came back
        self.throttled: dict[tuple, tuple[int, int, float]] = {}
        self.retried: dict[tuple, float] = {}
        self.cursor_pages: dict[str, int] = {}  # next_cursor → the page number it leads to
        rng = random.Random(seed)
        self.users = [f"U0{rng.randrange(10**8):08d}" for _ in range(4)]
        self.channels: dict[str, list[dict]] = {}
        for channel in CHANNELS:
            moments = instants(rng, NOW - timedelta(days=14), NOW - timedelta(minutes=2), per_channel,
                               timedelta(microseconds=1))
            self.channels[channel] = [self.message(rng, at, n) for n, at in enumerate(moments)]
        self.channels[CHANNELS[0]].append(self.message(rng, boundary, per_channel))
        newest = self.channels[CHANNELS[0]][-2]  # [-1] is the boundary message
        twin = {**newest, "text": "same ts, other channel", "client_msg_id": str(uuid.uuid4())}
        self.channels[CHANNELS[1]].append(twin)
        for messages in self.channels.values():
            messages.sort(key=lambda m: m["ts"], reverse=True)  # newest first, as served

    def message(self, rng: random.Random, at: datetime, n: int) -> dict:
        ts = slack_ts(at)
        if n % 7 == 3:
            return {"type": "message", "subtype": "bot_message", "bot_id": "B0DEPLOYBOT",
                    "username": "deploy-bot", "text": f"Deployed build {n}", "ts": ts}
        message = {"type": "message", "user": rng.choice(self.users), "text": f"message {n} :wave:",
                   "ts": ts, "team": "T0WORKSPACE", "client_msg_id": str(uuid.uuid4())}
        if n % 5 == 1:
            message.update(thread_ts=ts, reply_count=rng.randrange(1, 5), reply_users_count=1,
                           latest_reply=slack_ts(at + timedelta(minutes=3)))
        if n % 4 == 2:
            message["edited"] = {"user": message["user"], "ts": slack_ts(at + timedelta(minutes=1))}
        if n % 3 == 0:
            message["reactions"] = [{"name": "thumbsup", "users": self.users[:2], "count": 2}]
        return message

    def credentials(self) -> dict:
        """The secret's JSON (a `bearer` secret)."""
        return {"token": self.token}

    def truth(self, since: datetime, until: datetime = NOW) -> dict[tuple[str, str], dict]:
        """The messages posted in [since, until), by (channel, ts)."""
        return {(channel, m["ts"]): m for channel, messages in self.channels.items() for m in messages
                if since <= ts_instant(m["ts"]) < until}

    def route(self, request: Request) -> Response:
        args = request.values  # GET parameters or a POSTed form
        token = bearer(request) or args.get("token")
        if not token:
            return fail("not_authed")
        if token != self.token:
            return fail("invalid_auth")
        if request.path != HISTORY:
            return fail("unknown_method")
        channel = args.get("channel")
        if channel not in self.channels:
            return fail("channel_not_found")
        bounds = {}
        for name in ("oldest", "latest"):
            value = args.get(name)
            if value is not None and not _TS.match(value):
                return fail(f"invalid_ts_{name}")
            bounds[name] = None if value is None else Decimal(value)
        inclusive = args.get("inclusive", "false").lower() in ("true", "1")
        start, cursor = 0, args.get("cursor", "")
        if cursor:
            decoded = unwrap(cursor)
            if decoded is None or not decoded.startswith("next_ts:"):
                return fail("invalid_cursor")
            start = int(decoded[8:])
        refusal = self.refusal(channel, args, cursor)
        if refusal is not None:
            return refusal
        chosen = [m for m in self.channels[channel] if self.within(Decimal(m["ts"]), bounds, inclusive)]
        if start:
            chosen = [m for m in chosen if int(Decimal(m["ts"]) * 10**6) <= start]
        limit = min(int(args.get("limit", 100)), 999, self.serve_at_most)
        page, rest = chosen[:limit], chosen[limit:]
        following = opaque(f"next_ts:{int(Decimal(rest[0]['ts']) * 10**6)}") if rest else ""
        if following:
            with self.lock:
                self.cursor_pages[following] = self.cursor_pages.get(cursor, 1) + 1
        return json_response({"ok": True, "messages": page, "has_more": bool(rest), "pin_count": 0,
                              "channel_actions_ts": None, "channel_actions_count": 0,
                              "response_metadata": {"next_cursor": following}})

    @staticmethod
    def within(ts: Decimal, bounds: dict, inclusive: bool) -> bool:
        oldest, latest = bounds["oldest"], bounds["latest"]
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            return False
        return latest is None or ts < latest or (ts == latest and inclusive)

    def refusal(self, channel: str, args, cursor: str) -> Response | None:
        """`ratelimited` in a 200, or a real 429, once for each listed page of each query; the
        request that comes back for it is timed (`retried`)."""
        key = (channel, args.get("oldest"), args.get("latest"), cursor)
        with self.lock:
            page = self.cursor_pages.get(cursor, 1)
            if key in self.throttled:
                if key not in self.retried:
                    self.retried[key] = time.monotonic()
                return None
            if page in self.ratelimited_pages:
                self.throttled[key] = (page, 200, time.monotonic())
                return fail("ratelimited")
            if page in self.http_429_pages:
                self.throttled[key] = (page, 429, time.monotonic())
                return fail("ratelimited", 429, {"Retry-After": str(self.retry_after)})
        return None
