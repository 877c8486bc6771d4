"""The pure parts of `target.write: history`: what a version's `_hash` covers (a record re-sent
unchanged must digest the same, in any process), where a version starts, and the config checks."""

from __future__ import annotations

import subprocess
import sys

from ingestion.contract.config import cross_check
from ingestion.rows.build import RowBuilder, content_columns
from ingestion.warehouse.history import Chain, valid_from_sql
from tests.support.configs import entity_config

FIELDS = [
    {"name": "id", "type": "INT64", "mode": "REQUIRED"},
    {"name": "plan", "type": "STRING"},
    {"name": "seats", "type": "INT64"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "address", "type": "RECORD", "fields": [{"name": "city", "type": "STRING"}]},
    {"name": "updated_at", "type": "TIMESTAMP"},
    {"name": "window", "type": "TIMESTAMP"},
]
HISTORY = {"cursor_field": "updated_at", "target": {"write": "history"},
           "records": {"path": "data", "computed": {"window": "window_start"}}}
PAGE = {"_run_id": "r1", "_extracted_at": "2026-03-01T00:00:00Z", "_source_object": "gs://b/p1",
        "window": "2026-03-01T00:00:00Z"}
RECORD = {"id": 7, "plan": "team", "seats": 3, "tags": ["a", "b"], "address": {"city": "Oslo"},
          "updated_at": "2026-03-02T10:00:00Z"}


def build(record: dict, page: dict = PAGE, spec: dict = HISTORY) -> dict:
    return RowBuilder.for_entity(entity_config(spec, FIELDS)).for_page(page)(record)


def test_the_hash_covers_the_content_not_the_cursor_the_loader_columns_or_the_run():
    entity = entity_config(HISTORY, FIELDS)
    assert content_columns(entity) == ["id", "plan", "seats", "tags", "address"]

    first = build(RECORD)["_hash"]
    later_run = {**PAGE, "_run_id": "r2", "_extracted_at": "2026-03-05T00:00:00Z",
                 "_source_object": "gs://b/p9", "window": "2026-03-04T00:00:00Z"}
    assert build({**RECORD, "updated_at": "2026-03-04T00:00:00Z"}, later_run)["_hash"] == first
    # the same values however the API spells them: coerced first, keys in any order
    messy = {"updated_at": "2026-03-02T10:00:00Z", "address": {"city": "Oslo"}, "tags": ["a", "b"],
             "seats": "3", "plan": "team", "id": "7"}
    assert build(messy)["_hash"] == first
    # null, missing and an empty array are the same absence
    assert build({**RECORD, "tags": [], "plan": None})["_hash"] == build(
        {k: v for k, v in RECORD.items() if k not in ("tags", "plan")})["_hash"]

    for change in ({"plan": "business"}, {"seats": 4}, {"tags": ["b", "a"]}, {"address": {"city": "Rome"}}):
        assert build({**RECORD, **change})["_hash"] != first, change


def test_the_hash_is_the_same_in_another_process():
    """Stable across processes and runs (no per-process hash seed): a redelivery elsewhere must
    recognise the versions already stored."""
    code = ("from tests.unit.test_history import build, RECORD; print(build(RECORD)['_hash'])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == build(RECORD)["_hash"]


def test_only_history_entities_get_a_hash():
    assert "_hash" not in build(RECORD, spec={**HISTORY, "target": {"write": "merge"}})


def test_a_version_starts_at_its_cursor_when_that_is_a_time_else_when_it_was_extracted():
    assert valid_from_sql("updated_at", "TIMESTAMP") == "`updated_at`"
    assert valid_from_sql("day", "DATE") == "TIMESTAMP(`day`)"
    assert valid_from_sql("at", "DATETIME") == "TIMESTAMP(`at`)"
    assert valid_from_sql("seq", "INT64") == "_extracted_at"
    assert valid_from_sql(None, None) == "_extracted_at"
    chain = Chain.of(entity_config(HISTORY, FIELDS))
    assert chain.keys == ("id",) and chain.valid_from == "`updated_at`"
    assert chain.columns[-3:] == ("_run_id", "_extracted_at", "_source_object")
    assert not {"_valid_from", "_valid_to", "_is_current", "_hash"} & set(chain.columns)


def test_the_config_checks_of_a_history_entity():
    own = [*FIELDS, {"name": "_valid_from", "type": "TIMESTAMP"}]
    assert ("target.write history adds the column _valid_from: the schema may not define it"
            in cross_check(entity_config(HISTORY, own)))
    soft = {**HISTORY, "full_refresh": {"absent_rows": "soft_delete"}}
    assert any("soft_delete" in p and "history" in p for p in cross_check(entity_config(soft, FIELDS)))
    assert cross_check(entity_config(HISTORY, FIELDS)) == []
    assert cross_check(entity_config({**HISTORY, "target": {"write": "merge"}}, own)) == []
