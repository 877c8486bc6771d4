"""`schema.on_new_field: add_column` (docs/config.md#new-fields), the part without BigQuery: which
record keys become columns, the type their values agree on, and that rows carry them as sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.model import ApiResponse, Page, Slice, Window
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.newfields import NewFields
from tests.support.configs import entity_config

FIELDS = [{"name": "id", "type": "INT64"}, {"name": "name", "type": "STRING"}]
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


def staged(batch: list, fields: list[dict] = FIELDS, **spec) -> tuple[list[dict], dict[str, str], NewFields]:
    """(rows, column → inferred type, the tally) of one page of an add_column entity."""
    entity = entity_config({"schema": {"on_new_field": "add_column"}, **spec}, fields)
    rows_of = RowBuilder.for_entity(entity)
    new = NewFields.for_entity(entity, rows_of.known)
    page = Page(1, Slice(None, WINDOW), ApiResponse("u", 200, b"", None, batch), WINDOW.end, source="gs://b/r")
    rows, _, _ = page_rows(page, entity, rows_of, 0, carry=new.carry)
    return rows, {f["name"]: f["type"] for f in new.fields()}, new


@pytest.mark.parametrize(("values", "kind"), [
    ([1, 2, -3], "INT64"),
    ([1, 2.5], "FLOAT64"),
    ([0.5], "FLOAT64"),
    ([True, False], "BOOL"),
    (["2026-03-10T09:30:00Z", "2026-03-10 11:30:00+02:00", "2026-03-10T09:30:00.1234",
      "2026-03-10T09:30+0200"], "TIMESTAMP"),
    (["red", "green"], "STRING"),
    (["2026-03-10"], "STRING"),  # a date is not an instant
    (["2026-02-30T10:00:00Z"], "STRING"),  # no such day
    (["1773135000"], "STRING"),  # digits are not read as an epoch
    ([{"a": 1}, [1, 2], []], "JSON"),
    ([1, "1"], "STRING"),
    ([{"a": 1}, 3], "STRING"),
    (["2026-03-10T09:30:00Z", "soon"], "STRING"),
    ([True, 1], "STRING"),
    ([2**70], "STRING"),  # beyond INT64: kept digit for digit
])
def test_a_new_column_gets_the_narrowest_type_holding_all_its_values(values, kind):
    records = [{"id": n, "extra": value} for n, value in enumerate(values)]
    rows, types, _ = staged(records)
    assert types == {"extra": kind}
    assert [r["extra"] for r in rows] == values  # carried as sent: coerced once the type is known


def test_null_values_are_not_carried_and_a_null_only_field_gets_no_column():
    rows, types, _ = staged([{"id": 1, "note": None, "stock": None}, {"id": 2, "note": None, "stock": 4}])
    assert types == {"stock": "INT64"}
    assert [r.get("stock", "absent") for r in rows] == ["absent", 4]


def test_keys_that_cannot_be_a_column_of_their_own_are_only_reported():
    record = {"id": 1, "name": "a", "unit-price": 3, "1st": 1, "ID": 7, "Name": "b", "_raw": {},
              "_PARTITIONTIME": 1, "_deleted": True, "_seq": 1, "_delete": False, "score": 1, "Score": 2,
              "meta": {"x": 1}}
    owner = {"name": "owner", "type": "STRING"}
    _, types, new = staged([record], [*FIELDS, owner], records={"fields": {"owner": "meta.owner"}})
    assert types == {"score": "INT64"}  # `Score` would clash with it, `meta` is read by `owner`
    refused = ("unit-price", "1st", "Score", "_raw", "_PARTITIONTIME", "_deleted", "_seq", "_delete")
    assert not any(new.eligible[key] for key in refused)


def test_a_report_entity_carries_nothing():
    entity = entity_config({}, FIELDS)
    assert NewFields.for_entity(entity, RowBuilder.for_entity(entity).known) is None
