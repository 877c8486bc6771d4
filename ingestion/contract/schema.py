"""The JSON Schemas under ingestion/contract/schemas/ (configs, trigger message, BigQuery schema files) and
one way of turning their violations into `field.path: message` lines."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMAS_DIR = Path(__file__).parent / "schemas"
_BASE = "https://ingestion.local/schemas/"
# name → reference into the registry
_KINDS = {
    "entity": "entity.schema.json",
    "source": "entity.schema.json#/$defs/source",
    "resolved": "entity.schema.json#/$defs/resolved",
    "bq": "bq-table.schema.json",
    "payload": "payload.schema.json",
}


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    # Imported on first use: jsonschema is a tenth of a second the function's cold start skips.
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS_DIR.glob("*.schema.json"))]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    return Draft202012Validator({"$ref": _BASE + _KINDS[kind]}, registry=registry)


def schema_errors(kind: str, document: Any) -> list[str]:
    """Every violation of schema `kind` as `field.path: message` (empty when valid)."""
    errors = sorted(_validator(kind).iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [f"{e.json_path.removeprefix('$.').removeprefix('$') or '(top level)'}: {shorten(e.message)}"
            for e in errors]


def shorten(text: str, limit: int = 300) -> str:
    """Messages quote the offending value: keep a bad 1 MB value from becoming a 1 MB error (the
    middle goes: the end says what is wrong with it)."""
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]}… [{len(text) - head - tail} characters] …{text[-tail:]}"


@functools.cache
def entity_schema() -> dict:
    """The entity config's JSON Schema (its `default`s are the config's defaults)."""
    return json.loads((SCHEMAS_DIR / "entity.schema.json").read_text())


@functools.cache
def payload_schema() -> dict:
    """The trigger message's JSON Schema (its `default`s are the message's defaults)."""
    return json.loads((SCHEMAS_DIR / "payload.schema.json").read_text())
