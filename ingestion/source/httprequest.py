"""The request being built for one page: what paginators, date filters and authenticators edit,
and the `{placeholder}` rendering that puts a window, a fan-out item or a job id into it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ingestion.contract.placeholders import render
from ingestion.contract.sections import RequestSpec


@dataclass
class HttpRequest:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def copy(self) -> HttpRequest:
        """A copy to edit (an authenticator's, a paginator's): the body deeply, as it nests."""
        return HttpRequest(self.method, self.url, dict(self.params), dict(self.headers),
                           None if self.json is None else copy.deepcopy(self.json))

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


def build_request(base_url: str, spec: RequestSpec, context: dict[str, Any],
                  method: str = "GET") -> HttpRequest:
    """A request from a config's request section, placeholders rendered; `method` is the kind's
    own default when the config names none (a report job's create request is a POST)."""
    return HttpRequest(
        method=spec.method or method,
        url=base_url.rstrip("/") + render(spec.path, context, quote=True),
        params=render(dict(spec.params), context),
        headers={k: str(v) for k, v in render(spec.headers, context).items()},
        json=render(spec.body, context) if spec.body is not None else None,
    )
