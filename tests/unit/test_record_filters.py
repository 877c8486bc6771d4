"""`records.filters` (docs/config.md#record-filters): which records a run leaves out on purpose,
that they are counted with the client-filtered ones and never rejected, and the config checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingestion.contract.config import load_entity
from ingestion.contract.errors import ConfigError
from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.cursor import record_filter
from ingestion.rows.filters import with_record_filters
from tests.support.configs import MINIMAL, entity_config

FIELDS = [{"name": "id", "type": "INT64"}, {"name": "type", "type": "STRING"},
          {"name": "updated_at", "type": "TIMESTAMP"}]
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
ORDERS = [
    {"id": 1, "type": "order", "updated_at": "2026-03-01T10:00:00Z"},
    {"id": 2, "type": "refund", "updated_at": "2026-03-01T11:00:00Z", "test": True},
    {"id": 3, "type": "refund", "updated_at": "2026-03-01T12:00:00Z", "test": False},
    {"id": 4, "type": "payout", "updated_at": "2026-03-01T13:00:00Z"},
    {"id": 5, "type": "order", "updated_at": "2026-03-01T14:00:00Z",
     "customer": {"email": "qa@acme.example"}},
    {"id": 6, "updated_at": "2026-03-01T15:00:00Z"},
]


def filtered(filters: list[dict], records: list = ORDERS, **spec) -> tuple[list[int], list[dict], int]:
    """(ids loaded, rejects, records filtered) of one page through the entity's filters."""
    entity = entity_config({"records": {"filters": filters}, "cursor_field": "updated_at", **spec}, FIELDS)
    keep = with_record_filters(entity, record_filter(entity, full_snapshot=False))
    page = Page(1, Slice(None, WINDOW), ApiResponse("u", 200, b"", None, records), WINDOW.end, source="gs://b/raw")
    rows, rejects, left_out = page_rows(page, entity, RowBuilder.for_entity(entity), 0, keep=keep)
    return [r["id"] for r in rows], rejects, left_out


def test_a_keep_filter_loads_only_the_matching_records_and_counts_the_rest():
    ids, rejects, left_out = filtered([{"field": "type", "in": ["order", "refund"], "action": "keep"}])
    assert ids == [1, 2, 3, 5] and rejects == [] and left_out == 2  # a payout, a record without type


def test_a_drop_filter_leaves_out_the_matching_records():
    ids, _, left_out = filtered([{"field": "test", "equals": True, "action": "drop"}])
    assert ids == [1, 3, 4, 5, 6] and left_out == 1  # false, and a missing flag, are not true


def test_a_record_is_left_out_when_any_drop_matches_or_any_keep_does_not():
    ids, _, left_out = filtered([
        {"field": "type", "in": ["order", "refund"], "action": "keep"},
        {"field": "updated_at", "matches": r"2026-03-01T1[0-2]:.*", "action": "keep"},
        {"field": "test", "equals": True, "action": "drop"},
        {"field": "customer.email", "matches": r".*@acme\.example", "action": "drop"},
    ])
    assert ids == [1, 3] and left_out == 4


def test_present_tests_a_field_that_is_there_and_not_null():
    at = "2026-03-01T10:00:00Z"
    records = [{"id": 1, "updated_at": at, "archived_at": None},
               {"id": 2, "updated_at": at, "archived_at": "2026-03-01"}, {"id": 3, "updated_at": at}]
    assert filtered([{"field": "archived_at", "present": True, "action": "drop"}], records)[0] == [1, 3]
    assert filtered([{"field": "archived_at", "present": False, "action": "drop"}], records)[0] == [2]


def test_filtered_records_add_to_the_client_filtered_ones_and_none_is_rejected():
    march_2nd = {"id": 9, "type": "order", "updated_at": "2026-03-02T00:00:00Z"}  # outside the window
    not_an_object = ["a list is not a record"]
    ids, rejects, left_out = filtered([{"field": "type", "equals": "order", "action": "keep"}],
                                      [*ORDERS, march_2nd, not_an_object],
                                      incremental={"client_filter": True})
    assert ids == [1, 5] and left_out == 5  # two refunds, a payout, no type, march 2nd
    assert [r["reason"] for r in rejects] == ["a record must be a JSON object, got list"]


def test_an_entity_without_filters_keeps_its_client_filter_unchanged():
    entity = entity_config({"cursor_field": "updated_at", "incremental": {"client_filter": True}}, FIELDS)
    client = record_filter(entity, full_snapshot=False)
    assert with_record_filters(entity, client) is client
    assert with_record_filters(entity_config(fields=FIELDS), None) is None


def write(tmp_path, config: dict) -> tuple:
    (tmp_path / "config/acme").mkdir(parents=True)
    (tmp_path / "schema/acme").mkdir(parents=True)
    (tmp_path / "config/acme/items.json").write_text(json.dumps({**MINIMAL, **config}))
    (tmp_path / "schema/acme/items.json").write_text(json.dumps(FIELDS))
    return tmp_path / "config", tmp_path / "schema"


@pytest.mark.parametrize(("filters", "error"), [
    ([{"field": "type", "equals": "x"}], "'action' is a required property"),
    ([{"field": "type", "equals": "x", "in": ["y"], "action": "keep"}], "is valid under each of"),
    ([{"field": "type", "equals": "x", "action": "skip"}], "'skip' is not one of ['keep', 'drop']"),
    ([{"field": "type", "matches": "(unclosed", "action": "drop"}],
     "records.filters[0].matches: not a regular expression: missing ), unterminated subpattern"),
    ([{"field": "lines[*].type", "equals": "x", "action": "drop"}],
     "records.filters[0].field: 'lines[*].type' has [*], which gives a list; this setting reads one value"),
])
def test_a_filter_the_loader_could_not_apply_is_a_config_error(tmp_path, filters, error):
    with pytest.raises(ConfigError) as raised:
        load_entity("acme/items", *write(tmp_path, {"records": {"path": "data", "filters": filters}}))
    assert error in str(raised.value)


def test_a_valid_filter_list_loads(tmp_path):
    filters = [{"field": "type", "in": ["order"], "action": "keep"},
               {"field": "['odd key'].x", "present": True, "action": "drop"}]
    entity = load_entity("acme/items", *write(tmp_path, {"records": {"path": "data", "filters": filters}}))
    assert entity.records.filters == tuple(filters)
