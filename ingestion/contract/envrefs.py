"""`${NAME}` / `${NAME:-default}` in configs: values that differ per deployment (an API host, a
tenant header, a start date), read from the environment when a config is loaded.

One place says where a reference may appear, how it expands and what an unset one means: the
function and `run` need every value (an unset one is a ConfigError: permanent, the message is
acknowledged); commands that call no API load configs with placeholders instead; the deploy passes
each variable into the function's environment (`python -m ingestion manifest env`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.contract.dates import parse_instant
from ingestion.contract.errors import ConfigError

_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")
# Where a config may read the environment, as key paths ("*": every key of that map).
LOCATIONS: tuple[tuple[str, ...], ...] = (
    ("base_url",), ("start_date",), ("auth", "token_url"), ("auth", "token_params", "*"),
    ("auth", "login_url"),
    ("request", "path"), ("request", "params", "*"), ("request", "headers", "*"),
)
# Top-level keys of those locations. Only API calls read the first three: `gaps` needs start_date.
API_FIELDS = frozenset({"base_url", "auth", "request"})
ALL_FIELDS = API_FIELDS | {"start_date"}
# What an unset reference becomes when the caller allows it, so the rest still validates.
_PLACEHOLDERS = {"start_date": "1970-01-01"}


@dataclass(frozen=True)
class EnvRef:
    """One `${NAME}` in one config file."""

    name: str
    default: str | None
    field: str  # dotted: base_url, request.headers.X-Tenant
    file: Path

    @property
    def missing(self) -> bool:
        return is_missing(self.name, self.default)


def is_missing(name: str, default: str | None) -> bool:
    """Unset (or empty, as `${NAME:-default}` reads it in the shell) and without a default."""
    return not os.environ.get(name) and default is None


def located_strings(doc: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """(key path, value) of every string of a config document at one of LOCATIONS."""
    def walk(node: Any, pattern: tuple[str, ...], keys: tuple[str, ...]):
        if not pattern:
            if isinstance(node, str):
                yield keys, node
            return
        if not isinstance(node, dict):
            return
        names = node if pattern[0] == "*" else [pattern[0]] if pattern[0] in node else []
        for name in names:
            yield from walk(node[name], pattern[1:], (*keys, name))

    for pattern in LOCATIONS:
        yield from walk(doc, pattern, ())


def refs_in(doc: Any, file: Path) -> list[EnvRef]:
    return [EnvRef(m[1], m[2], ".".join(keys), file)
            for keys, text in located_strings(doc) for m in _REF.finditer(text)]


def scan(config_dir: Path) -> list[EnvRef]:
    """Every reference in the config files (entities and `_source.json`) under `config_dir`.
    Unreadable files are skipped: `validate` reports them."""
    found: list[EnvRef] = []
    for path in sorted(config_dir.glob("*/*.json")):
        try:
            found += refs_in(json.loads(path.read_text()), path)
        except (OSError, ValueError):
            continue
    return found


def expand(spec: dict, origin: Callable[[tuple[str, ...]], Path],
           allow_unset: Collection[str] = ()) -> None:
    """Replace the references of a merged config in place. An unset one is a ConfigError naming
    the file, the field and the variable, unless its top-level key is in `allow_unset` (then it
    stays as written, or becomes a placeholder date). Expanded values are checked here, naming the
    variable but never the value of a parameter or header (those may carry tokens)."""
    problems: dict[Path, list[str]] = {}
    for keys, text in list(located_strings(spec)):
        names = [m[1] for m in _REF.finditer(text)]
        if not names:
            continue
        unset = [m[1] for m in _REF.finditer(text) if is_missing(m[1], m[2])]
        uses = f"{'.'.join(keys)} uses {_listed(unset or names)}"
        if unset and keys[0] not in allow_unset:
            problems.setdefault(origin(keys), []).append(f"{uses}, which is not set")
        elif unset:
            _set(spec, keys, _PLACEHOLDERS.get(keys[0], _substitute(text)))
        elif problem := _check_expanded(".".join(keys), expanded := _substitute(text)):
            problems.setdefault(origin(keys), []).append(f"{uses}: {problem}")
        else:
            _set(spec, keys, expanded)
    if problems:
        raise ConfigError("; ".join(f"{file}: {'; '.join(found)}" for file, found in problems.items()))


def _substitute(text: str) -> str:
    """`text` with each set reference replaced by its value or default (unset ones stay as written)."""
    return _REF.sub(lambda m: os.environ.get(m[1]) or (m[0] if m[2] is None else m[2]), text)


def _listed(names: list[str]) -> str:
    return " and ".join(f"${{{name}}}" for name in dict.fromkeys(names))


def _check_expanded(field: str, value: str) -> str | None:
    if field == "start_date":
        try:
            parse_instant(value)
        except ValueError:
            return f"{value!r} is not an ISO date or datetime"
    elif field == "base_url" and not re.fullmatch(r"https?://\S+", value):
        return "the value is not an http(s) URL"
    elif field == "auth.token_url" and not re.fullmatch(r"(https?://|/)\S*", value):
        return "the value is not an http(s) URL or a path"
    elif re.search(r"[\r\n]", value):
        return "the value holds a line break"
    return None


def _set(doc: dict, keys: tuple[str, ...], value: str) -> None:
    for key in keys[:-1]:
        doc = doc[key]
    doc[keys[-1]] = value


def has_key(doc: Any, keys: tuple[str, ...]) -> bool:
    for key in keys:
        if not isinstance(doc, dict) or key not in doc:
            return False
        doc = doc[key]
    return True
