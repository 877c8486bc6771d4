"""The longest gap between two firings of a unix-cron schedule (Cloud Scheduler's format), the base of
an entity's default freshness objective.

Five fields — minute, hour, day of month, month, day of week — each `*`, a value, a range `a-b`, a
step `*/n` or `a-b/n` or `a/n`, or a list of those; months and weekdays also by name (`JAN`, `MON`;
weekday 7 is Sunday, as 0). As in cron, a day matches when its month does and, if both day fields are
restricted (neither starts with `*`), either of them does; otherwise both. Gaps are measured on the
schedule's own wall clock: a daylight-saving shift is not counted. A tiny evaluator of our own: the
function's bundle stays free of a cron library it would not otherwise need.
"""

from __future__ import annotations

import functools
import itertools
from datetime import date, timedelta

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# name, lowest, highest, names for lowest.. (weekday 7 is folded into 0 after parsing)
FIELDS = [("minute", 0, 59, []), ("hour", 0, 23, []), ("day of month", 1, 31, []),
          ("month", 1, 12, MONTHS), ("day of week", 0, 7, WEEKDAYS)]
# Day and month rules repeat within 4 years (a leap day included; 2100 is too far to matter).
_SPAN_START, _SPAN_DAYS = date(2024, 1, 1), 4 * 365 + 1 + 62


def _value(text: str, low: int, names: list[str], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return low + names.index(upper)
    if not text.isdigit():
        raise ValueError(f"{what}: {text!r} is not a number" + (f" or a name ({names[0]}…)" if names else ""))
    return int(text)


def _field(text: str, what: str, low: int, high: int, names: list[str]) -> frozenset[int]:
    """The values one field allows."""
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{what}: step {step_text!r} is not a positive number")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (_value(t, low, names, what) for t in span.split("-", 1))
        else:
            first = _value(span, low, names, what)
            last = high if step_text else first  # `a/n`: from a to the end, every n
        if not low <= first <= last <= high:
            raise ValueError(f"{what}: {part!r} is outside {low}-{high}" if first <= last
                             else f"{what}: {part!r} is a range backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@functools.cache
def longest_gap(cron: str) -> timedelta:
    """The longest time between two consecutive firings of `cron`. ValueError: not a valid unix-cron
    expression, or one that never fires (`0 0 30 2 *`)."""
    texts = cron.split()
    if len(texts) != 5:
        raise ValueError(f"{cron!r}: a unix-cron expression has 5 fields (minute hour day month weekday)")
    minutes, hours, days, months, weekdays = (
        _field(text, *spec) for text, spec in zip(texts, FIELDS, strict=True))
    weekdays = frozenset(d % 7 for d in weekdays)
    times = sorted(h * 60 + m for h in hours for m in minutes)  # minutes of a firing day
    either = not texts[2].startswith("*") and not texts[4].startswith("*")

    def fires(day: date) -> bool:
        by_date, by_weekday = day.day in days, day.isoweekday() % 7 in weekdays
        return day.month in months and ((by_date or by_weekday) if either else (by_date and by_weekday))

    span = 14 if texts[2] == "*" and texts[3] == "*" else _SPAN_DAYS  # else weekly: two weeks show it
    firing = [n for n in range(span) if fires(_SPAN_START + timedelta(days=n))]
    if not firing:
        raise ValueError(f"{cron!r} never fires")
    within = max((b - a for a, b in itertools.pairwise(times)), default=0)
    between = max((b - a) * 1440 - times[-1] + times[0] for a, b in itertools.pairwise(firing))
    return timedelta(minutes=max(within, between))
