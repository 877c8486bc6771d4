"""`{placeholder}`s in config strings: the window, the fan-out item or a report job's id, put
into a request (rendered by ingestion/source/httprequest.py, checked by the config loader)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote as urlquote

# Only these names are placeholders; any other brace (a JSON literal in a param, JQL) stays as is.
PLACEHOLDERS = ("start", "end", "item", "job_id")
_PLACEHOLDER = re.compile(r"\{(start|end|item|job_id)\}")



def render(value: Any, context: dict[str, Any], quote: bool = False) -> Any:
    """Replace `{start}`, `{end}`, `{item}`, `{job_id}` in every string of `value` (recursively).
    A string that is exactly one placeholder takes the value's own type (an epoch stays a number);
    `quote` percent-encodes values put into a URL path."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole[1] in context and not quote:
            return context[whole[1]]

        def text(match: re.Match) -> str:
            if match[1] not in context:
                return match[0]
            return urlquote(str(context[match[1]]), safe="") if quote else str(context[match[1]])

        return _PLACEHOLDER.sub(text, value)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def placeholders_in(value: Any) -> set[str]:
    """The placeholder names used anywhere in `value`."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*map(placeholders_in, value))
    return set()
