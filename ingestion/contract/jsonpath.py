"""Dotted paths into parsed JSON (`data.items`, `meta.total`, `` for the root)."""

from __future__ import annotations

from typing import Any

_MISSING = object()


class PathNotFound(LookupError):
    pass


def dig(document: Any, path: str, default: Any = _MISSING) -> Any:
    """Follow `path` (keys, or list indexes as digits); raise PathNotFound unless a default is given."""
    value = document
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            if default is not _MISSING:
                return default
            raise PathNotFound(f"path {path!r} not found (stopped at {part!r})")
    return value
