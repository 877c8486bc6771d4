"""The request being built for one page: what paginators, date filters and authenticators edit."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


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
        """Put a parameter in the query string (`query`) or the JSON body (`body`); returns self."""
        if location == "body":
            self.json = {**(self.json or {}), name: value}
        else:
            self.params[name] = value
        return self
