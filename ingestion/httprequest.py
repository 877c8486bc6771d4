"""The request being built for one page: what paginators, date filters and authenticators edit,
and the `{placeholder}` rendering that puts a window, a fan-out item or a job id into it."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote as urlquote

# Only these names are placeholders; any other brace (a JSON literal in a param, JQL) stays as is.
PLACEHOLDERS = ("start", "end", "item", "job_id")
_PLACEHOLDER = re.compile(r"\{(start|end|item|job_id)\}")


@dataclass
class HttpRequest:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def copy(self) -> HttpRequest:
        return copy.deepcopy(self)

    def set(self, location: str, name: str, value: Any) -> HttpRequest:
        """Put a parameter in the query string (`query`) or the JSON body (`body`, where a dotted
        name such as `paging.pageNumber` sets a nested field); returns self."""
        if location != "body":
            self.params[name] = value
            return self
        self.json = node = copy.deepcopy(self.json or {})
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        return self

    def get(self, location: str, name: str) -> Any:
        if location != "body":
            return self.params.get(name)
        node: Any = self.json or {}
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node


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


def build_request(base_url: str, spec: dict, context: dict[str, Any], method: str = "GET") -> HttpRequest:
    """A request from a config's `{path, method, params, headers, body}`, placeholders rendered."""
    return HttpRequest(
        method=spec.get("method", method),
        url=base_url.rstrip("/") + render(spec["path"], context, quote=True),
        params=render(dict(spec.get("params", {})), context),
        headers={k: str(v) for k, v in render(spec.get("headers", {}), context).items()},
        json=render(spec["body"], context) if "body" in spec else None,
    )


def placeholders_in(value: Any) -> set[str]:
    """The placeholder names used anywhere in `value`."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*map(placeholders_in, value))
    return set()


@dataclass
class ApiResponse:
    """One parsed API response, as paginators and the stager see it."""

    url: str  # secrets redacted
    status: int
    content: bytes  # the body exactly as received
    body: Any  # parsed JSON (None for line-delimited formats)
    records: list[Any]
    links: dict[str, str] = field(default_factory=dict)  # RFC 8288 `Link` header: rel → URL
