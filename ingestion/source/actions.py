"""Response actions (`response_actions`): rules on an answer's status and body, for APIs that
report errors inside HTTP 200 (Slack's `{"ok": false, "error": "ratelimited"}`, GraphQL's
`errors[*].extensions.code: "THROTTLED"`) or mean "no data" by an error status.

The rules are tried in order on every answer, a non-2xx one included (the session's own 429/5xx
retries come first: a rule sees the answer they end with); the first whose conditions all hold
decides (`decide`). Each action is a class registered under its `type` (the rule's `action`).
Without a matching rule an answer takes its ordinary course: a 2xx is parsed (a body without the
record path stays an error), anything else fails as it always did.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any

from ingestion.contract.errors import ApiError, AuthError, RetryableError
from ingestion.contract.jsonpath import compile_path
from ingestion.contract.redact import redact
from ingestion.contract.registry import Registry
from ingestion.contract.sections import ABSENT, HttpSpec
from ingestion.contract.sections import ResponseAction as Rule
from ingestion.source import jsoncodec
from ingestion.source.credentials import Authenticator

ACTIONS = Registry("response action")
RESEND, IGNORE = "resend", "ignore"  # what an action asks of the fetcher (or it raises)
_MISSING = object()
_BACKOFF_MAX = 60.0  # as the session's own retries
_EXCERPT = 200


class Answer:
    """One HTTP answer as the rules see it; the body is parsed only if a rule reads a path."""

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str], url: str):
        self.status, self.content, self.url = status, content, url  # url: secrets redacted
        self.headers = {name.lower(): value for name, value in headers.items()}

    @cached_property
    def body(self) -> Any:
        try:
            return jsoncodec.loads(self.content)
        except ValueError:
            return _MISSING  # not JSON (an HTML error page, a CSV export): no path matches

    @cached_property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def at(self, path: str) -> Any:
        """The value at `path`, or _MISSING (a wildcard path that reaches nothing is missing too)."""
        if self.body is _MISSING:
            return _MISSING
        compiled = compile_path(path)
        value = compiled.get(self.body, _MISSING)
        return _MISSING if compiled.wildcard and value == [] else value


def matches(rule: Rule, answer: Answer) -> bool:
    """All of the rule's conditions hold for `answer` (JSON equality: `false` is not `0`)."""
    if rule.status and answer.status not in rule.status:
        return False
    if rule.text_contains is not None and rule.text_contains not in answer.text:
        return False
    if rule.path is None:
        return True
    value = answer.at(rule.path)
    if rule.exists is not None:  # a null is no value
        return (value is not _MISSING and value is not None) == rule.exists
    if value is _MISSING:
        return False
    if rule.equals is not ABSENT:
        return _same(value, rule.equals)
    if isinstance(value, str):
        return isinstance(rule.contains, str) and rule.contains in value
    return isinstance(value, list) and any(_same(item, rule.contains) for item in value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def decide(actions: Sequence[ResponseAction], answer: Answer) -> ResponseAction | None:
    """The action of the first rule that matches `answer`, if any."""
    return next((action for action in actions if matches(action.rule, answer)), None)


def make_actions(rules: Sequence[Rule]) -> tuple[ResponseAction, ...]:
    return tuple(ACTIONS.build(rule.action, rule, number) for number, rule in enumerate(rules))


def ignores(rules: Sequence[Rule], status: int, content: bytes) -> bool:
    """Whether `rules` take this answer for an empty page: a replay of the raw pages a run stored
    must read an ignored page the way the run did (every other page stored was taken as data)."""
    action = decide(make_actions(rules), Answer(status, content, {}, ""))
    return isinstance(action, IgnoreAction)


@dataclass
class Attempts:
    """One request's history across resends: the retries and seconds its rules spent, and
    whether its credentials were refreshed."""

    http: HttpSpec
    auth: Authenticator
    retries: int = 0
    waited: float = 0.0
    refreshed: bool = False


class ResponseAction:
    """Base of the actions; a subclass sets `type` (it registers itself) and implements `take`."""

    type: str

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        ACTIONS.add(cls)

    def __init__(self, rule: Rule, number: int):
        self.rule, self.number = rule, number

    def take(self, answer: Answer, attempts: Attempts) -> str:
        """RESEND or IGNORE, or raise."""
        raise NotImplementedError

    def describe(self, answer: Answer) -> str:
        """`HTTP <status> from <url>: <the body's message> (response_actions[n]: <action>)`,
        redacted: `message_path`'s value, else an excerpt of the body."""
        message = answer.at(self.rule.message_path) if self.rule.message_path else _MISSING
        if message is _MISSING or message is None:
            message = " ".join(answer.text[:_EXCERPT].split())
        elif not isinstance(message, str):
            message = json.dumps(message)[:_EXCERPT]
        return redact(f"HTTP {answer.status} from {answer.url}: {message!r} "
                      f"(response_actions[{self.number}]: {self.type})")


class RetryAction(ResponseAction):
    """Resend after the http backoff (or the answer's `Retry-After`), counted in
    `http.max_retries` and bounded by `http.max_retry_wait_seconds`; then a retryable error."""

    type = "retry"

    def take(self, answer: Answer, attempts: Attempts) -> str:
        http = attempts.http
        delay = retry_after(answer.headers.get("retry-after"))
        if delay is None:
            base = min(_BACKOFF_MAX, http.backoff_factor * 2 ** attempts.retries)
            delay = base + random.uniform(0, http.backoff_factor)
        if attempts.retries >= http.max_retries or attempts.waited + delay > http.max_retry_wait_seconds:
            raise RetryableError(f"{self.describe(answer)}, still after {attempts.retries} retries "
                                 f"and {attempts.waited:.0f} s; a redelivery will try again")
        attempts.retries += 1
        attempts.waited += delay
        time.sleep(delay)
        return RESEND


class FailAction(ResponseAction):
    """A permanent error quoting the body's message."""

    type = "fail"

    def take(self, answer: Answer, attempts: Attempts) -> str:
        raise ApiError(self.describe(answer))


class IgnoreAction(ResponseAction):
    """An empty page that ends the walk (a 'no data for this range' error)."""

    type = "ignore"

    def take(self, answer: Answer, attempts: Attempts) -> str:
        return IGNORE


class RefreshAuthAction(ResponseAction):
    """Refresh the credentials once and resend; matched again (or nothing to refresh), a
    permanent AuthError naming the secret."""

    type = "refresh_auth"

    def take(self, answer: Answer, attempts: Attempts) -> str:
        auth = attempts.auth
        if not attempts.refreshed and auth.refresh():
            attempts.refreshed = True
            return RESEND
        whose = f"secret {auth.secret!r}" if auth.secret else "the function's own identity"
        after = f"even after {auth.refreshed_by}" if attempts.refreshed else "and cannot refresh them"
        raise AuthError(f"{self.describe(answer)}: the API refused the credentials of {whose} {after}")


def retry_after(value: str | None) -> float | None:
    """A `Retry-After` value (seconds or an HTTP date) in seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
