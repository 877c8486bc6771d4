"""The documentation: the README is the front door to docs/, and docs/config.md documents the config
contract — every setting and every value of the JSON Schema appears in it, and its four type tables
list exactly the schema's types. Every relative link in README.md, deploy/README.md and docs/ leads
to a file, and to a heading of it when it names one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ingestion.contract.schema import SCHEMAS_DIR
from ingestion.contract.settings import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "config.md"
README_MAX_LINES = 250

# The heading of each type table in docs/config.md → where the schema lists those types.
TYPE_TABLES = {
    "### Pagination types": ("pagination", "type"),
    "### Auth types": ("auth", "type"),
    "### Response formats": ("records", "format"),
    "### Date formats": ("date_filter", "format"),
    "### Response actions": ("response_action", "action"),
    "## Write modes": ("target", "write"),
}


def entity_schema() -> dict:
    return json.loads((SCHEMAS_DIR / "entity.schema.json").read_text())


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


def test_every_config_setting_is_documented_in_the_config_reference():
    doc = CONFIG_DOC.read_text()
    keys = schema_keys(entity_schema(), set())
    assert {"merge_keys", "total_pages_path", "value_key", "granularity"} <= keys
    undocumented = sorted(k for k in keys - {"$schema"} if f"`{k}`" not in doc)
    assert undocumented == []


def test_every_enum_value_is_documented_in_the_config_reference():
    doc = CONFIG_DOC.read_text()
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

    walk(entity_schema())
    assert [v for v in sorted(values) if v not in doc] == []


def table_types(doc: str, heading: str) -> list[str]:
    """The first backticked word of each table row under `heading`, up to the next heading."""
    lines = doc.splitlines()
    assert lines.count(heading) == 1, f"docs/config.md needs exactly one {heading!r}"
    types = []
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and (first := re.search(r"`([^`]+)`", line)):
            types.append(first.group(1))
    return types


def test_each_type_table_lists_exactly_the_schema_enum():
    doc, schema = CONFIG_DOC.read_text(), entity_schema()
    for heading, (definition, setting) in TYPE_TABLES.items():
        enum = schema["$defs"][definition]["properties"][setting]["enum"]
        listed = table_types(doc, heading)
        assert len(listed) == len(set(listed)), f"{heading}: a type listed twice"
        assert sorted(listed) == sorted(enum), heading


def test_the_readme_is_a_front_door_to_every_doc():
    readme = README.read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for command in ("make demo", "make test", "make unit"):
        assert command in readme.split("\n## ", 1)[0], f"{command} belongs at the top"
    linked = {(README.parent / target).resolve() for target, _ in links(readme)}
    unlinked = sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*") if p.is_file()
                      and p.resolve() not in linked)
    assert unlinked == []


def links(text: str) -> list[tuple[str, str]]:
    """(path, anchor) of every relative Markdown link, outside code blocks and code spans."""
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"(?ms)^```.*?^```", "", text))
    found = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        found.append((path, anchor))
    return found


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces → hyphens, repeats -1, -2."""
    seen: dict[str, int] = {}
    result = set()
    for heading in re.findall(r"(?m)^#{1,6} +(.+?) *#* *$", re.sub(r"(?ms)^```.*?^```", "", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return result


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in [README, ROOT / "deploy" / "README.md", *sorted(DOCS.glob("*.md"))]:
        for path, anchor in links(page.read_text()):
            target = (page.parent / path).resolve() if path else page
            name = f"{page.relative_to(ROOT)}: {path}{'#' + anchor if anchor else ''}"
            if not target.exists():
                broken.append(f"{name} (no such file)")
            elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text()):
                broken.append(f"{name} (no such heading)")
    assert broken == []


def test_links_and_anchors_are_read_as_github_does():
    sample = "# Errors: acknowledged or redelivered\n## Report jobs (`async_job`)\n## A\n## A\n"
    assert anchors(sample) == {"errors-acknowledged-or-redelivered", "report-jobs-async_job", "a", "a-1"}
    assert links("[x](a.md#b) `[y](no.md)` [z](https://e.org) [w](#c)") == [("a.md", "b"), ("", "c")]
    assert Path("docs/config.md") == CONFIG_DOC.relative_to(ROOT)
