"""`target.write: "history"` (SCD type 2) against a CRM that serves every revision of its contacts
(tests/support/apis/versions.py): changes, unchanged re-sends, late older revisions, flagged
deletions, tombstones, absence from a complete snapshot, and a crash in a step followed by the
redelivery; then the shipped example, config/stripe/customer_history.json, against Stripe's Events
API (tests/support/apis/stripe.py). Every test compares the whole history table — every version
of every record — with the simulator's ground truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ingestion.contract.config import deep_merge
from ingestion.run.entrypoint import handle_pubsub_envelope
from tests.support.apis import NOW
from tests.support.apis.stripe import COLUMNS as STRIPE_COLUMNS
from tests.support.apis.stripe import StripeEvents
from tests.support.apis.versions import CONFIG, CONTENT, SCHEMA, START, ContactVersionsApi
from tests.support.catalog import sync
from tests.support.delivery import envelope, store_secret
from tests.support.faults import SimulatedCrash, crash_on_call
from tests.support.tables import table_rows

ENTITY = "crm/contacts"
LATER = NOW + timedelta(minutes=15)  # past any lease a crashed run left
WHOLE_RANGE = {"entity": ENTITY, "sync_mode": "incremental_window", "start_date": "2026-03-01",
               "end_date": "2026-03-10T12:00:00Z"}


@pytest.fixture
def api(serve):
    served = ContactVersionsApi()
    serve(served, "CONTACTS_API_URL")
    return served


def setup(env, **changes) -> str:
    dataset = f"crm_{env.suffix}"
    env.write(ENTITY, deep_merge(deep_merge(CONFIG, {"target": {"dataset": dataset}}), changes), SCHEMA)
    return dataset


def deliver(env, payload: dict | None = None, message_id: str = "m1", attempt: int = 1, now=NOW):
    return handle_pubsub_envelope(envelope(payload or {"entity": ENTITY}, message_id, attempt=attempt),
                                  env.settings, now=now)


def history(env, dataset: str, table: str = "contacts", content=CONTENT) -> list[tuple]:
    """The whole table as (id, valid_from, valid_to, content), ordered; checks on the way that
    each row's cursor (`updated_at`) is its `_valid_from`, `_is_current` says whether it is open,
    and (id, `_valid_from`) is unique."""
    rows = sorted(table_rows(env, dataset, table), key=lambda r: (r["id"], r["_valid_from"]))
    assert len({(r["id"], r["_valid_from"]) for r in rows}) == len(rows), "duplicate versions"
    for row in rows:
        assert row["_is_current"] is (row["_valid_to"] is None), row
        assert row["updated_at"] == row["_valid_from"], row
        assert row["_hash"] and row["_run_id"] and row["_extracted_at"], row
    return [(r["id"], r["_valid_from"], r["_valid_to"], {c: r[c] for c in content}) for r in rows]


def truth(api: ContactVersionsApi | StripeEvents, **options) -> list[tuple]:
    return [(v.id, v.valid_from, v.valid_to, v.content) for v in api.history(**options)]


def of_record(table: list[tuple], key) -> list[tuple]:
    return [v for v in table if v[0] == key]


def test_a_change_opens_a_version_and_an_unchanged_resend_adds_none(env, api):
    dataset = setup(env)
    assert deliver(env).status == "succeeded"
    first = history(env, dataset)
    assert first == truth(api) and all(v[2] is None for v in first)  # one current version each

    api.change(2, plan="business", seats=12)
    api.touch(3)  # a newer updated_at, the same content
    api.change(2, address={"city": "Porto", "country": "PT"})
    api.touch(2)
    assert deliver(env, message_id="m2").status == "succeeded"

    table = history(env, dataset)
    assert table == truth(api)
    assert [(v[3]["plan"], v[3]["seats"], v[3]["address"]["city"], v[2] is None)
            for v in of_record(table, 2)] == [
        ("business", 2, "Osaka", False), ("business", 12, "Osaka", False), ("business", 12, "Porto", True)]
    assert of_record(table, 3) == of_record(first, 3)  # touched: still its one version

    # the whole range read again (every revision re-sent): not one row changes, lineage included
    before = table_rows(env, dataset, "contacts")
    assert deliver(env, WHOLE_RANGE, "again").status == "succeeded"
    after = table_rows(env, dataset, "contacts")
    key = lambda r: (r["id"], r["_valid_from"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)


def test_a_revision_corrected_without_a_new_cursor_replaces_its_version(env, api):
    dataset = setup(env)
    api.change(7, seats=70)
    assert deliver(env).status == "succeeded"
    corrected = api.correct(7, seats=71)  # the API fixed it without touching updated_at

    assert deliver(env, WHOLE_RANGE, "backfill").status == "succeeded"

    table = history(env, dataset)
    assert table == truth(api)
    assert [(v[1], v[3]["seats"]) for v in of_record(table, 7)][-1] == (corrected.updated_at, 71)


def test_a_late_older_revision_goes_into_the_history_in_its_place_and_never_becomes_current(env, api):
    dataset = setup(env)
    api.change(5, plan="enterprise")
    assert deliver(env).status == "succeeded"
    first, second = (v[1] for v in of_record(history(env, dataset), 5))

    # published late: dated between the two versions already loaded, after the watermark passed it
    late = api.change(5, at=first + (second - first) / 2, seats=50)
    api.change(1, seats=99)
    assert deliver(env, message_id="m2").status == "succeeded"
    assert late.updated_at not in [v[1] for v in history(env, dataset)]  # the incremental run missed it

    assert deliver(env, WHOLE_RANGE, "backfill").status == "succeeded"  # a backfill finds it

    table = history(env, dataset)
    assert table == truth(api)
    mid = of_record(table, 5)
    at = late.updated_at
    assert [(v[1], v[2]) for v in mid] == [(first, at), (at, second), (second, None)]
    assert [(v[3]["plan"], v[3]["seats"]) for v in mid] == [
        ("business", 5), ("business", 50), ("enterprise", 5)]


def test_a_late_revision_equal_to_its_neighbour_changes_nothing(env, api):
    dataset = setup(env)
    api.change(6, plan="team")
    assert deliver(env).status == "succeeded"
    before = history(env, dataset)
    first, second = (v[1] for v in of_record(before, 6))

    api.touch(6, at=first + (second - first) / 2)  # late, and the same content as the first version
    assert deliver(env, WHOLE_RANGE, "backfill").status == "succeeded"

    assert history(env, dataset) == before == truth(api)


def test_a_late_revision_equal_to_the_version_after_it_absorbs_that_version(env, api):
    """The content the current version has was already there at the late revision's instant: one
    version from then on, not two equal ones in a row."""
    dataset = setup(env)
    api.change(6, plan="team")
    assert deliver(env).status == "succeeded"
    first, second = (v[1] for v in of_record(history(env, dataset), 6))

    late = api.change(6, at=first + (second - first) / 2, plan="team")
    assert deliver(env, WHOLE_RANGE, "backfill").status == "succeeded"

    table = history(env, dataset)
    assert table == truth(api)
    assert [(v[1], v[2], v[3]["plan"]) for v in of_record(table, 6)] == [
        (first, late.updated_at, "free"), (late.updated_at, None, "team")]


def test_a_flagged_deletion_closes_the_current_version_and_a_return_opens_a_new_one(env, api):
    dataset = setup(env)
    assert deliver(env).status == "succeeded"
    deleted = api.flag_deleted(4)
    api.change(7, plan="team")
    api.flag_deleted(7)
    assert deliver(env, message_id="m2").status == "succeeded"

    table = history(env, dataset)
    assert table == truth(api)
    assert [v[2] for v in of_record(table, 4)] == [deleted.updated_at]  # closed; nothing current
    assert all(v[2] is not None for v in of_record(table, 7))

    back = api.change(4, seats=40)  # the contact is restored
    assert deliver(env, message_id="m3").status == "succeeded"
    assert history(env, dataset) == truth(api)
    assert [(v[1], v[2]) for v in of_record(history(env, dataset), 4)][-1] == (back.updated_at, None)


TOMBSTONES = {"deletes": {"endpoint": {
    "path": "/v1/contacts/deleted", "records_path": "deleted", "key_fields": {"id": "contact_id"},
    "deleted_at_field": "deleted_at",
    "pagination": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor",
                   "size_param": "limit", "page_size": 4}}}}


def test_a_tombstone_closes_the_current_version_at_its_deletion_time(env, api):
    dataset = setup(env, **TOMBSTONES)
    api.change(5, plan="enterprise")
    assert deliver(env).status == "succeeded"
    api.change(1, seats=10)
    assert deliver(env, message_id="m2").status == "succeeded"
    erased = api.erase(1)  # gone from the list; the deleted-contacts endpoint says when
    erased_late = api.erase(5, at=START + timedelta(days=2, hours=3))  # between its two versions
    assert deliver(env, message_id="m3").status == "succeeded"
    assert deliver(env, WHOLE_RANGE, "backfill").status == "succeeded"  # finds the late tombstone

    table = history(env, dataset)
    assert table == truth(api)
    assert of_record(table, 1)[-1][2] == erased
    # a tombstone dated between two versions (published late) ends the first; the second stays current
    assert [v[2] for v in of_record(table, 5)] == [erased_late, None]


def test_a_contact_missing_from_a_complete_snapshot_is_closed_at_the_snapshot(env, api):
    dataset = setup(env)
    assert deliver(env).status == "succeeded"
    api.erase(6, tombstone=False)  # gone from every answer, and nobody says so
    api.change(3, seats=30)

    run = deliver(env, {"entity": ENTITY, "sync_mode": "historical_full"}, "full")

    assert run.status == "succeeded" and run.rows_deleted == 1
    table = history(env, dataset)
    closed = of_record(table, 6)[-1][2]
    assert NOW <= closed < NOW + timedelta(minutes=1)  # when the job finished
    assert table == truth(api, purged_at=closed)

    # the next complete snapshot has nothing more to close
    again = deliver(env, {"entity": ENTITY, "sync_mode": "historical_full"}, "full-2")
    assert again.status == "succeeded" and again.rows_deleted == 0
    assert history(env, dataset) == table


CRASH_POINTS = {
    "after the staging load, before the MERGE": "ingestion.run.steps.merge_into_target",
    "after the MERGE, before the state": "ingestion.run.steps.commit_state",
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_in_a_step_then_the_redelivery_gives_the_true_history(env, api, mocker, point):
    """A backfill over every window, one step each, dies in its second step; Pub/Sub redelivers
    once the dead run's lease has expired. Its steps hold changes, a late revision, a flag."""
    dataset = setup(env)
    assert deliver(env).status == "succeeded"
    day = lambda d, h: START + timedelta(days=d, hours=h)  # noqa: E731
    api.change(3, at=day(1, 6), seats=33)  # late: inside the first run's range
    api.change(1, at=day(3, 10), plan="enterprise")
    api.flag_deleted(2, at=day(4, 2))
    api.touch(4, at=day(5, 1))
    api.change(3, at=day(7, 9), seats=34)
    api.change(1, at=day(8, 3), seats=11)
    env.settings = replace(env.settings, step_records=1)
    crash_on_call(mocker, CRASH_POINTS[point], call=2)

    with pytest.raises(SimulatedCrash):
        deliver(env, WHOLE_RANGE, "backfill")
    mocker.stopall()
    redelivered = deliver(env, WHOLE_RANGE, "backfill", attempt=2, now=LATER)

    assert redelivered.status == "succeeded"
    assert history(env, dataset) == truth(api)
    assert len(of_record(truth(api), 3)) == 3 and len(of_record(truth(api), 1)) == 3


def test_the_stripe_example_keeps_every_version_of_every_customer(env, serve):
    """config/stripe/customer_history.json against Stripe's Events API: customer events in, other
    customer.* events filtered out, a metadata-only update adds no version, customer.deleted
    closes the customer's version."""
    stripe = StripeEvents()
    serve(stripe, "STRIPE_API_URL")
    store_secret(env.settings.project, "stripe-api", stripe.credentials())
    dataset = env.copy_configs("stripe")
    env.edit_config("stripe/customer_history", lambda spec: spec["pagination"].update(page_size=4))
    entity = "stripe/customer_history"

    def stripe_history() -> list[tuple]:
        return history(env, dataset, "customer_history", STRIPE_COLUMNS)

    assert sync(env, entity).status == "succeeded"
    assert stripe_history() == truth(stripe) and len(truth(stripe)) == 6

    first, second, third, fourth = list(stripe.customers)[:4]
    stripe.update(first, email="new@example.com")
    stripe.update(second, metadata={"tier": "gold"})  # no column of the table changes
    stripe.discount(third)  # a customer.* event that is not about a customer
    stripe.update(first, address={"city": "Porto", "country": "PT", "line1": "1 Rua", "line2": None,
                                  "postal_code": "4000", "state": None}, balance=-500)
    stripe.delete(fourth)
    stripe.create()
    second_run = sync(env, entity, now=NOW + timedelta(hours=1))

    assert second_run.status == "succeeded" and second_run.filtered == 1
    table = stripe_history()
    assert table == truth(stripe)
    assert [v[3]["city"] for v in of_record(table, first)] == ["Ghent", "Ghent", "Porto"]
    assert len(of_record(table, second)) == 1 and of_record(table, fourth)[0][2] is not None

    again = sync(env, entity, "incremental_window", START, NOW, now=NOW + timedelta(hours=2))
    assert again.status == "succeeded" and stripe_history() == table  # every event re-read: no change
