"""One source of truth per extension point: the classes that register themselves, the JSON
Schema's `type` enum and branches, and the documentation's tables agree; and every typed config
section reads exactly the properties the schema declares."""

from __future__ import annotations

import inspect
import re

import pytest

from ingestion.contract import sections
from ingestion.contract.schema import entity_schema
from ingestion.contract.settings import ROOT
from ingestion.source.actions import ACTIONS
from ingestion.source.auth import AUTHENTICATORS
from ingestion.source.dateformats import DATE_FORMATS
from ingestion.source.pagination import PAGINATORS
from ingestion.source.records import FORMATS
from ingestion.warehouse import history  # noqa: F401 - registers the history write mode
from ingestion.warehouse.writes import WRITE_MODES

DEFS = entity_schema()["$defs"]
DOCS = (ROOT / "docs/config.md").read_text()
POINTS = {  # registry, the schema's enum, the docs table's heading
    "pagination": (PAGINATORS, DEFS["pagination"]["properties"]["type"]["enum"], "Pagination types"),
    "auth": (AUTHENTICATORS, DEFS["auth"]["properties"]["type"]["enum"], "Auth types"),
    "format": (FORMATS, DEFS["records"]["properties"]["format"]["enum"], "Response formats"),
    "date format": (DATE_FORMATS, DEFS["date_filter"]["properties"]["format"]["enum"], "Date formats"),
    "response action": (ACTIONS, DEFS["response_action"]["properties"]["action"]["enum"], "Response actions"),
    "write mode": (WRITE_MODES, DEFS["target"]["properties"]["write"]["enum"], "## Write modes"),
}


def documented(heading: str) -> list[str]:
    """The first backticked word of each table row under `### <heading>` (or a heading given
    with its own `#`s)."""
    section = DOCS.split(f"{heading if heading.startswith('#') else '### ' + heading}\n", 1)[1]
    section = section.split("\n#", 1)[0]
    return [m[1] for m in re.finditer(r"^\|\s*`([^`]+)`", section, re.M)]


@pytest.mark.parametrize("point", list(POINTS))
def test_registry_schema_enum_and_docs_table_agree(point):
    registry, enum, heading = POINTS[point]
    assert sorted(registry) == sorted(enum), f"{point}: classes vs schema enum"
    assert sorted(documented(heading)) == sorted(enum), f"{point}: docs/config.md '### {heading}' table"


def branch_properties(defs_name: str, type_name: str) -> set[str]:
    """The settings the schema allows for one `type` of a polymorphic section."""
    for rule in DEFS[defs_name]["allOf"]:
        if rule["if"]["properties"]["type"]["const"] == type_name:
            return set(rule["then"].get("properties", {})) - {"type"}
    raise AssertionError(f"no $defs/{defs_name} branch for {type_name}")


def constructor_settings(cls: type) -> set[str]:
    """Named arguments a class takes from the config (following **common up its bases)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__:
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return {{"location": "in"}.get(n, n) for n in names}


@pytest.mark.parametrize("defs_name,registry", [("pagination", PAGINATORS), ("auth", AUTHENTICATORS)])
def test_each_class_takes_exactly_the_settings_its_schema_branch_allows(defs_name, registry):
    for type_name, cls in registry.items():
        allowed = branch_properties(defs_name, type_name)
        # base-class settings a branch does not offer keep their neutral default
        assert allowed <= constructor_settings(cls), f"{type_name}: settings the class ignores"


SECTIONS = {
    sections.HttpSpec: DEFS["http"], sections.RequestSpec: DEFS["request"],
    sections.RecordsSpec: DEFS["records"], sections.DateFilterSpec: DEFS["date_filter"],
    sections.TargetSpec: DEFS["target"], sections.PartitionSpec: DEFS["target"]["properties"]["partition"],
    sections.ScheduleSpec: DEFS["schedule"], sections.FanOutSpec: DEFS["fan_out"],
    sections.FromEndpoint: DEFS["fan_out"]["properties"]["from_endpoint"],
    sections.FromEntity: DEFS["fan_out"]["properties"]["from_entity"],
    sections.AsyncJobSpec: DEFS["async_job"], sections.FullRefreshSpec: DEFS["full_refresh"],
    sections.ResponseAction: DEFS["response_action"],
    sections.IncrementalSpec: DEFS["incremental"],
    sections.DeletesSpec: DEFS["deletes"],
    sections.TombstoneEndpoint: DEFS["deletes"]["properties"]["endpoint"],
    sections.SchemaSpec: DEFS["schema_changes"],
    sections.ChildSpec: DEFS["children"]["items"],
}


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_each_typed_section_reads_exactly_the_schema_properties(cls):
    assert sections.attribute_names(cls) == set(SECTIONS[cls]["properties"])


def test_the_top_level_sections_are_the_entity_properties():
    expected = set(entity_schema()["properties"]) - {"$schema"}
    assert sections.attribute_names(sections.Sections) == expected


def test_defaults_come_from_the_schema():
    """An entity that sets nothing optional gets every default the schema declares."""
    spec = {"base_url": "https://api.example.com", "start_date": "2026-01-01", "merge_keys": ["id"],
            "request": {"path": "/x"}, "records": {"path": ""},
            "pagination": {"type": "page_number", "page_param": "page"},
            "target": {"dataset": "d", "table": "t"}}
    filled = sections.with_defaults(spec, entity_schema())
    assert filled["auth"] == {"type": "none"} and filled["lookback"] == "PT0S"
    assert filled["http"]["max_retries"] == DEFS["http"]["properties"]["max_retries"]["default"]
    assert filled["pagination"]["start_page"] == 1 and filled["pagination"]["max_pages"] == 100_000
    assert filled["records"]["format"] == "json" and filled["request"]["method"] == "GET"
    assert filled["full_refresh"] == {"absent_rows": "hard_delete"}
    assert spec["records"] == {"path": ""}  # the document itself is left as written
