"""Paths into parsed JSON, as config settings write them (`records.path`, `records.fields`, every
`*_path`); the syntax is documented once, in docs/config.md#paths:

    data.items            keys separated by dots; "" is the document itself
    items.0.id            a bare segment of digits: a key of an object, else an index of a list
    ['@odata.nextLink']   a quoted key, any characters ("…" too; a backslash escapes the quote)
    [0]                   an index of a list
    value[*].id           every element of a list (every value of an object): a flat list

A wildcard path returns one flat list of what it reaches, in order: a value that is itself a list
adds its elements (`[*].results` concatenates batches), null or missing adds nothing. Only the part
before the first `[*]` must exist. Paths are compiled once into steps (`compile_path`, cached by
their text): `dig` runs per record on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_MISSING = object()

KEY, INDEX, KEY_OR_INDEX, EACH = "key", "index", "key or index", "each"
Step = tuple[str, Any]

_BARE = re.compile(r"[^.\[\]\s]+")
_INDEX = re.compile(r"\[(\d+)\]")


class PathNotFound(LookupError):
    pass


class PathSyntaxError(ValueError):
    """A path that cannot be parsed; the message says where and why."""


def _follow(value: Any, kind: str, arg: Any) -> Any:
    """One step that is not a wildcard, or _MISSING when it leads nowhere."""
    if kind is KEY:
        return value.get(arg, _MISSING) if isinstance(value, dict) else _MISSING
    if kind is KEY_OR_INDEX:  # the dotted spelling of old: `items.0`
        if isinstance(value, dict):
            return value.get(arg[0], _MISSING)
        return value[arg[1]] if isinstance(value, list) and arg[1] < len(value) else _MISSING
    return value[arg] if isinstance(value, list) and arg < len(value) else _MISSING


def _add(value: Any, out: list) -> None:
    if isinstance(value, list):
        out.extend(value)
    elif value is not None:
        out.append(value)


def _collect(value: Any, steps: tuple[Step, ...], out: list) -> None:
    """Under a wildcard: what `steps` reach from `value`, added to `out`; a dead end adds nothing."""
    (kind, arg), rest = steps[0], steps[1:]
    if kind is EACH:
        items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else ()
        for item in items:
            _next(item, rest, out)
        return
    value = _follow(value, kind, arg)
    if value is not _MISSING:
        _next(value, rest, out)


def _next(value: Any, rest: tuple[Step, ...], out: list) -> None:
    if rest:
        _collect(value, rest, out)
    else:
        _add(value, out)


class JsonPath:
    """A compiled path: `get(document, default)` follows it (see the module docstring)."""

    __slots__ = ("get", "steps", "text")

    def __init__(self, text: str, steps: tuple[Step, ...]):
        self.text, self.steps = text, steps
        self.get: Callable[..., Any] = self._getter()

    @property
    def wildcard(self) -> bool:
        return any(kind is EACH for kind, _ in self.steps)

    @property
    def first_key(self) -> str | None:
        """The top-level key the path reads from an object, if it starts with one."""
        kind, arg = self.steps[0] if self.steps else (EACH, None)
        return arg if kind is KEY else arg[0] if kind is KEY_OR_INDEX else None

    def _not_found(self, default: Any, step: Step, reached: Any = None) -> Any:
        if default is not _MISSING:
            return default
        kind, arg = step
        what = (f"key {arg!r}" if kind is KEY else f"index {arg}" if kind is INDEX
                else repr(arg[0]) if kind is KEY_OR_INDEX else f"[*] over {type(reached).__name__}")
        raise PathNotFound(f"path {self.text!r} not found (stopped at {what})")

    def _getter(self) -> Callable[..., Any]:
        head = []
        for kind, arg in self.steps:
            if kind is EACH:
                break
            head.append((kind, arg))
        head_steps, tail = tuple(head), self.steps[len(head):]
        keys = tuple(arg for _, arg in head_steps) if all(k is KEY for k, _ in head_steps) else None

        if keys is not None and not tail:  # the common case (`customer.id`): plain key lookups
            def get_keys(document: Any, default: Any = _MISSING) -> Any:
                value = document
                for key in keys:
                    if isinstance(value, dict) and key in value:
                        value = value[key]
                    else:
                        return self._not_found(default, (KEY, key))
                return value
            return get_keys

        def get(document: Any, default: Any = _MISSING) -> Any:
            value = document
            for kind, arg in head_steps:
                value = _follow(value, kind, arg)
                if value is _MISSING:
                    return self._not_found(default, (kind, arg))
            if not tail:
                return value
            if value is not None and not isinstance(value, list | dict):
                return self._not_found(default, tail[0], value)
            out: list = []
            _collect(value, tail, out)
            return out
        return get


_COMPILED: dict[str, JsonPath] = {}  # config paths: a few per entity, kept for the process


def compile_path(path: str) -> JsonPath:
    """The path's steps, parsed once; PathSyntaxError says what is malformed and where."""
    compiled = _COMPILED.get(path)
    if compiled is None:
        compiled = _COMPILED[path] = JsonPath(path, tuple(_parse(path)))
    return compiled


def _parse(path: str) -> list[Step]:
    steps: list[Step] = []
    at = 0
    while at < len(path):
        if path[at] == "[":
            step, at = _bracket(path, at)
            steps.append(step)
        else:
            if steps:
                if path[at] != ".":
                    raise _malformed(path, at, "']' without '['" if path[at] == "]" else
                                     "whitespace outside quotes (quote the key: ['…'])"
                                     if path[at].isspace() else "expected '.' or '[' here")
                at += 1
            bare = _BARE.match(path, at)
            if bare is None:
                raise _malformed(path, at, "an empty segment" if at == len(path) or path[at] in ".["
                                 else f"{path[at]!r} outside quotes (quote the key: ['…'])")
            key = bare.group()
            steps.append((KEY_OR_INDEX, (key, int(key))) if key.isdigit() else (KEY, key))
            at = bare.end()
    return steps


def _bracket(path: str, at: int) -> tuple[Step, int]:
    """The step of the `[...]` starting at `at`, and where it ends."""
    if path.startswith("[*]", at):
        return (EACH, None), at + 3
    if index := _INDEX.match(path, at):
        return (INDEX, int(index.group(1))), index.end()
    quote = path[at + 1:at + 2]
    if quote not in ("'", '"'):
        if "]" not in path[at:]:
            raise _malformed(path, at, "unclosed bracket")
        raise _malformed(path, at, "a bracket holds a quoted key, a non-negative index or *")
    key, end = [], at + 2
    while end < len(path) and path[end] != quote:
        if path[end] == "\\" and end + 1 < len(path):
            end += 1
        key.append(path[end])
        end += 1
    if end >= len(path):
        raise _malformed(path, at, f"unclosed quote {quote}")
    if not path.startswith("]", end + 1):
        raise _malformed(path, at, "unclosed bracket")
    return (KEY, "".join(key)), end + 2


def _malformed(path: str, at: int, why: str) -> PathSyntaxError:
    return PathSyntaxError(f"malformed path {path!r}: {why} at character {at + 1} "
                           "(syntax: docs/config.md#paths)")


def dig(document: Any, path: str, default: Any = _MISSING) -> Any:
    """Follow `path`; raise PathNotFound unless a default is given (a wildcard path returns a
    list, which is empty rather than missing once past its first `[*]`)."""
    return (_COMPILED.get(path) or compile_path(path)).get(document, default)
