"""`records.filters` on the local stack (docs/config.md#record-filters): what the filters leave out
never reaches the table, and the run row counts it as filtered, not rejected."""

from __future__ import annotations

from tests.support.catalog import deliver, rows, runs, setup


def test_filtered_records_are_read_counted_and_never_loaded(env, catalog):
    filters = [{"field": "dimensions.boxes", "in": ["1", "2", "3"], "action": "keep"},  # sent as text
               {"field": "name", "matches": r"item 1\d", "action": "drop"}]
    dataset = setup(env, records={"path": "data", "filters": filters})

    run = deliver(env)

    wanted = {n for n in catalog.truth() if n % 5 + 1 <= 3 and not 10 <= n <= 19}
    assert wanted == {1, 2, 5, 6, 7, 20}
    assert set(rows(env, dataset)) == wanted
    assert (run.status, run.records, run.filtered, run.rejected) == ("succeeded", 6, 14, 0)
    assert runs(env)[0]["filtered"] == 14
