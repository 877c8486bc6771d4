"""`schema.on_new_field: add_column` against bqemulator (docs/config.md#new-fields): the catalog API
starts sending new fields mid-way through a backfill; the table gains typed columns and their
values, also those of the step that first saw them; a redelivery after a crash between the ALTER
and the MERGE ends right; `scaffold --update` writes the columns back into the schema JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.contract.config import deep_merge
from ingestion.ops.cli import main as cli
from ingestion.warehouse.newcolumns import ADDED_BY_LOADER
from tests.support.apis import NOW
from tests.support.apis.catalog import CONFIG, SCHEMA
from tests.support.catalog import ENTITY, assert_table_matches_truth, deliver, read_lines, rows, runs, sync
from tests.support.faults import SimulatedCrash, crash_on_call
from utils import bq_helper

LATER = NOW + timedelta(minutes=15)  # past any lease a crashed run left
ADDED = {"unused": "JSON", "stock": "INT64", "specs": "JSON", "restocked_at": "TIMESTAMP",
         "rating": "FLOAT64", "code": "STRING"}
_STANDARD = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


def setup(env, catalog) -> str:
    """The catalog entity with add_column, one window per step; items 11–20 (the second of the
    3-day windows, so the second step) carry fields the first ten do not have. The catalog always
    sends `unused` ({"deep": [1, 2]}), from the first step on."""
    dataset = f"shop_{env.suffix}"
    config = deep_merge(CONFIG, {"target": {"dataset": dataset}, "schema": {"on_new_field": "add_column"}})
    env.write(ENTITY, config, SCHEMA)
    env.settings = replace(env.settings, step_records=1)

    def new(value):
        return lambda item: value(item["id"]) if item["id"] > 10 else None

    catalog.extra_fields = {
        "stock": new(lambda n: str(n * 10) if n > 20 else n * 10),  # text later: read as INT64
        "specs": new(lambda n: {"color": f"c{n}", "sizes": [1, 2]}),
        "restocked_at": new(lambda n: f"2026-03-0{n % 5 + 1}T10:00:00+02:00"),
        "rating": new(lambda n: n if n % 2 else n + 0.5),  # integers and fractions: FLOAT64
        "code": new(lambda n: n if n % 3 else f"X{n}"),  # numbers and text: STRING
        "note": lambda item: None,  # null only: no column yet
    }
    return dataset


def columns(env, dataset: str) -> dict[str, tuple[str, str]]:
    table = bq_helper.get_table(f"{env.settings.project}.{dataset}.items")
    return {c.name: (_STANDARD.get(c.field_type, c.field_type), c.description or "") for c in table.schema}


def assert_new_values_loaded(env, dataset: str, catalog) -> dict[int, dict]:
    loaded = assert_table_matches_truth(env, dataset, catalog)
    for n, row in loaded.items():
        got = {k: row[k] for k in ("stock", "specs", "restocked_at", "rating", "code")}
        if n <= 10:
            assert got == dict.fromkeys(got), f"item {n}"
            continue
        assert got == {"stock": n * 10, "specs": {"color": f"c{n}", "sizes": [1, 2]},
                       "restocked_at": datetime(2026, 3, n % 5 + 1, 8, tzinfo=UTC),
                       "rating": float(n if n % 2 else n + 0.5),
                       "code": str(n) if n % 3 else f"X{n}"}, f"item {n}"
        assert row["unused"] == {"deep": [1, 2]}
    return loaded


def test_fields_the_api_starts_sending_become_typed_columns_loaded_from_the_first_step(
        env, catalog, monkeypatch):
    monkeypatch.setattr("ingestion.rows.stage.PART_BYTES", 1)  # a part per page: each is rewritten
    dataset = setup(env, catalog)

    run = deliver(env)

    assert run.status == "succeeded" and run.rejected == 0
    assert_new_values_loaded(env, dataset, catalog)
    found = columns(env, dataset)
    assert {name: found[name][0] for name in ADDED} == ADDED and "note" not in found
    assert all(found[name][1].startswith(ADDED_BY_LOADER) and run.run_id in found[name][1] for name in ADDED)
    assert set(run.added_columns.split(", ")) == {f"{name} {kind}" for name, kind in ADDED.items()}
    assert run.unknown_fields == "note"  # still nothing to type it by
    assert runs(env)[0]["added_columns"] == run.added_columns
    # what the load job got: each value of its column's type (bqemulator reads JSON leniently,
    # BigQuery's load job takes no number for a STRING column)
    staged = read_lines(env, f"staged/{ENTITY}/{run.run_id}/step-002/")
    assert len(staged) == 10 and {type(r["code"]) for r in staged} == {str}
    assert {type(r["rating"]) for r in staged} == {float}
    assert {r["restocked_at"][-1] for r in staged} == {"Z"}  # RFC 3339 UTC

    # the next run reads the columns like the schema JSON's: a stock sent as text is an INT64,
    # a field first seen now is added now
    catalog.put(12, name="renamed")
    catalog.put(21, name="new item")
    catalog.extra_fields["weight"] = lambda item: 1.5 if item["id"] == 21 else None
    again = deliver(env, message_id="m2")

    assert again.status == "succeeded" and again.added_columns == "weight FLOAT64"
    loaded = assert_new_values_loaded(env, dataset, catalog)
    assert (loaded[12]["name"], loaded[21]["stock"], loaded[21]["weight"]) == ("renamed", 210, 1.5)
    assert loaded[12]["weight"] is None

    # a replay rebuilds the rows from the raw pages into the same columns, adding none
    replayed = sync(env, ENTITY, "replay")
    assert replayed.status == "succeeded" and replayed.added_columns is None
    assert assert_new_values_loaded(env, dataset, catalog)[21]["weight"] == 1.5


def crash_after_adding(mocker, column: str, point: str) -> None:
    """The process dies at `point` of the step whose ALTER adds `column`: before the schema patch
    (bqemulator: the column is then in its storage only), or at the MERGE."""
    real_query, real_update = bq_helper.query, bq_helper.update_table
    altered = []

    def query(sql, params=None):
        if sql.startswith("ALTER TABLE") and f"`{column}`" in sql:
            altered.append(sql)
        if point == "merge" and altered and "MERGE" in sql:
            raise SimulatedCrash("at the MERGE")
        return real_query(sql, params)

    def update_table(table_id, **changes):
        if point == "patch" and altered:
            raise SimulatedCrash("before the schema patch")
        return real_update(table_id, **changes)

    mocker.patch.object(bq_helper, "query", side_effect=query)
    mocker.patch.object(bq_helper, "update_table", side_effect=update_table)


@pytest.mark.parametrize("point", ["after the ALTER, before the schema patch",
                                   "after the columns are added, before the rows are rewritten",
                                   "after the staging load, at the MERGE"])
def test_a_redelivery_after_a_crash_between_the_alter_and_the_merge_ends_right(env, catalog, mocker, point):
    dataset = setup(env, catalog)
    if point.startswith("after the columns"):
        crash_on_call(mocker, "ingestion.rows.newfields.coerce_staged", call=2)  # 1: step 1's `unused`
    else:
        crash_after_adding(mocker, "stock", "patch" if "patch" in point else "merge")

    with pytest.raises(SimulatedCrash):
        deliver(env)
    mocker.stopall()
    assert set(rows(env, dataset)) == set(range(1, 11))  # the first step stays, the second is undone

    redelivered = deliver(env, attempt=2, now=LATER)

    assert redelivered.status == "succeeded" and redelivered.rejected == 0
    assert_new_values_loaded(env, dataset, catalog)
    found = columns(env, dataset)
    assert {name: found[name][0] for name in ADDED} == ADDED
    assert all(found[name][1].startswith(ADDED_BY_LOADER) for name in ADDED)
    assert [r["status"] for r in runs(env)] == ["succeeded"]  # the dead run wrote no row


def test_scaffold_update_writes_the_added_columns_into_the_schema_json(env, catalog, capsys):
    dataset = setup(env, catalog)
    schema_file = env.settings.schema_dir / f"{ENTITY}.json"
    assert cli(["scaffold", "--update", ENTITY]) == 2
    assert "items does not exist: no column to read" in capsys.readouterr().err
    assert deliver(env).status == "succeeded"

    assert cli(["scaffold", "--update", ENTITY, "--stdout"]) == 0
    assert json.loads(schema_file.read_text()) == SCHEMA  # printed only
    assert cli(["scaffold", "--update", ENTITY]) == 0

    out = capsys.readouterr().out
    written = json.loads(schema_file.read_text())
    assert written[:len(SCHEMA)] == SCHEMA
    assert {f["name"]: (f["type"], f["mode"]) for f in written[len(SCHEMA):]} == {
        name: (kind, "NULLABLE") for name, kind in ADDED.items()}
    assert all(f["description"].startswith(ADDED_BY_LOADER) for f in written[len(SCHEMA):])
    for name, kind in ADDED.items():
        assert out.count(f"added: {name} {kind} ({ADDED_BY_LOADER}") == 2  # --stdout, then written
    assert f"wrote {schema_file}" in out
    assert cli(["validate", "--config-dir", str(env.settings.config_dir),
                "--schema-dir", str(env.settings.schema_dir)]) == 0

    # nothing more to write; the columns are the schema JSON's now and load as before
    assert cli(["scaffold", "--update", ENTITY]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert json.loads(schema_file.read_text()) == written
    catalog.put(15, name="changed")
    run = deliver(env, message_id="m2")
    assert run.status == "succeeded" and run.added_columns is None
    assert assert_new_values_loaded(env, dataset, catalog)[15]["name"] == "changed"
    assert set(columns(env, dataset)) == {f["name"] for f in written} | {
        "_run_id", "_extracted_at", "_source_object"}
