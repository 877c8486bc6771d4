"""The README documents the config contract: every setting of the JSON Schema appears in it."""

from __future__ import annotations

import json

from ingestion.contract.schema import SCHEMAS_DIR
from ingestion.contract.settings import ROOT


def schema_keys(node, keys: set[str]) -> set[str]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            keys.add(name)
            schema_keys(sub, keys)
        for value in node.values():
            schema_keys(value, keys)
    elif isinstance(node, list):
        for item in node:
            schema_keys(item, keys)
    return keys


def test_every_config_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    keys = schema_keys(json.loads((SCHEMAS_DIR / "entity.schema.json").read_text()), set())
    assert {"merge_keys", "total_pages_path", "value_key", "granularity"} <= keys
    undocumented = sorted(k for k in keys - {"$schema"} if f"`{k}`" not in readme)
    assert undocumented == []


def test_every_enum_value_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    schema = json.loads((SCHEMAS_DIR / "entity.schema.json").read_text())
    values: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            values.update(v for v in node.get("enum", []) if isinstance(v, str))
            values.update([node["const"]] if isinstance(node.get("const"), str) else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert [v for v in sorted(values) if v not in readme] == []
