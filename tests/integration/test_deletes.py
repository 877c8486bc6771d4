"""`deletes`: records flagged deleted and tombstones delete (or flag) their rows, with the shipped
`config/zendesk/tickets.json` against a simulator of Zendesk's ticket export and deleted-tickets
list (tests/support/apis/zendesk_tickets.py). Every table is compared with the simulator's ground
truth; tombstones never move the watermark and are not counted as records; a crash and the
redelivery, and a replay from the raw pages, give the same table.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ingestion.contract.errors import LeaseHeld
from tests.support.apis import NOW
from tests.support.apis.zendesk_tickets import DELETED, EXPORT, ZendeskTickets
from tests.support.catalog import deliver as push
from tests.support.catalog import runs
from tests.support.delivery import store_secret
from tests.support.faults import SimulatedCrash, crash_on_call
from tests.support.rawpages import pages
from tests.support.tables import table
from utils import bq_helper, gcs_helper

ENTITY = "zendesk/tickets"
LATER = NOW + timedelta(minutes=15)  # past any lease a crashed run left
MUCH_LATER = NOW + timedelta(minutes=30)


def zendesk(env, serve, change=None) -> tuple[ZendeskTickets, str]:
    """The shipped tickets config on the simulator (`change(spec)` edits it); returns the dataset."""
    api = ZendeskTickets()
    serve(api, "ZENDESK_URL")
    store_secret(env.settings.project, "zendesk-api", api.credentials())
    dataset = env.copy_configs("zendesk")

    def smaller_pages(spec: dict) -> None:
        spec["pagination"]["page_size"] = 5
        spec["deletes"]["endpoint"]["pagination"]["page_size"] = 2
        if change:
            change(spec)

    env.edit_config(ENTITY, smaller_pages)
    return api, dataset


def deliver(env, payload: dict | None = None, message_id: str = "m1", attempt: int = 1, now=NOW):
    """A push delivery of a message for the tickets entity."""
    return push(env, payload or {"entity": ENTITY}, message_id, attempt, now)


def hard(spec: dict) -> None:
    spec["deletes"]["mode"] = "hard_delete"


def tombstones_only(spec: dict) -> None:
    """The export leaves deleted tickets out: only the deleted-tickets list tells."""
    hard(spec)
    del spec["deletes"]["when"]
    spec["request"]["params"] = {"exclude_deleted": "true"}


def flags_only(spec: dict) -> None:
    hard(spec)
    del spec["deletes"]["endpoint"]


def tickets(env, dataset) -> dict[int, dict]:
    return table(env, dataset, "tickets", "id")


def assert_live_tickets(env, dataset, api) -> dict[int, dict]:
    loaded, live = tickets(env, dataset), api.live()
    assert sorted(loaded) == sorted(live)
    for key, ticket in live.items():
        assert (loaded[key]["status"], loaded[key]["subject"], loaded[key]["updated_at"]) == (
            ticket["status"], ticket["subject"], ticket["updated_at"]), key
    return loaded


def watermark(env) -> str:
    return json.loads(gcs_helper.read(env.settings.bucket, f"state/{ENTITY}.json")[0])["watermark"]


def z(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_tombstones_hard_delete_and_never_move_the_watermark(env, serve):
    api, dataset = zendesk(env, serve, tombstones_only)
    assert deliver(env).status == "succeeded"
    assert_live_tickets(env, dataset, api)
    since = api.newest_change() - timedelta(hours=1)  # the next run's start: watermark − lookback
    api.update(5, status="solved")
    for n in (3, 7, 12):
        api.delete(n)
    api.create(30)
    api.delete(30)  # created and deleted between two runs: never loaded

    second = deliver(env, message_id="m2", now=LATER)

    assert second.status == "succeeded", second.error_message
    assert_live_tickets(env, dataset, api)
    # ticket 5 and what the lookback re-reads; the 4 tombstones are not records
    assert second.records == sum(t["updated_at"] >= since for t in api.live().values())
    assert max(api.gone().values()) > api.newest_change()
    assert watermark(env) == z(api.newest_change())  # the tombstones' deleted_at moved nothing
    listed = api.calls(DELETED)
    assert listed and all(r.args["page[size]"] == "2" for r in listed)
    assert len(listed) == 1 + 2  # one walk per run: 0 tombstones, then 4 on two pages


def test_flagged_records_hard_delete_and_are_never_inserted(env, serve):
    api, dataset = zendesk(env, serve, flags_only)
    api.delete(2)  # deleted before the first run: exported as status deleted, never loaded
    assert deliver(env).status == "succeeded"
    assert_live_tickets(env, dataset, api)
    api.delete(6)
    api.delete(9)
    api.restore(2)

    assert deliver(env, message_id="m2", now=LATER).status == "succeeded"

    assert_live_tickets(env, dataset, api)
    assert watermark(env) == z(max(t["updated_at"] for t in api.tickets.values()))  # a flag is a version
    assert api.calls(DELETED) == []


def test_soft_delete_flags_rows_and_a_restored_ticket_is_live_again(env, serve):
    api, dataset = zendesk(env, serve)  # the shipped config: flags and tombstones, soft_delete
    assert deliver(env).status == "succeeded"
    first = tickets(env, dataset)
    assert not any(row["_deleted"] for row in first.values())
    status = api.tickets[4]["status"]
    deleted = {api.tickets[n]["id"]: api.delete(n) for n in (4, 8)}
    api.create(31)
    deleted[api.tickets[31]["id"]] = api.delete(31)

    assert deliver(env, message_id="m2", now=LATER).status == "succeeded"

    loaded = tickets(env, dataset)
    assert sorted(loaded) == sorted(t["id"] for t in api.tickets.values())  # nothing removed
    assert {k for k, r in loaded.items() if r["_deleted"]} == set(deleted)
    for key, at in deleted.items():
        assert loaded[key]["_deleted_at"] == at and loaded[key]["status"] == "deleted", key
    assert loaded[api.tickets[4]["id"]]["subject"] == first[api.tickets[4]["id"]]["subject"]

    api.restore(4)
    assert deliver(env, message_id="m3", now=MUCH_LATER).status == "succeeded"
    restored = tickets(env, dataset)[api.tickets[4]["id"]]
    assert (restored["_deleted"], restored["_deleted_at"], restored["status"]) == (False, None, status)


def test_soft_delete_by_tombstones_flags_the_row_as_it_was(env, serve):
    def soft_tombstones(spec: dict) -> None:
        tombstones_only(spec)
        spec["deletes"]["mode"] = "soft_delete"

    api, dataset = zendesk(env, serve, soft_tombstones)
    assert deliver(env).status == "succeeded"
    first = tickets(env, dataset)
    deleted = {api.tickets[n]["id"]: api.delete(n) for n in (5, 6)}
    api.create(32)
    never = api.tickets[32]["id"]
    api.delete(32)

    assert deliver(env, message_id="m2", now=LATER).status == "succeeded"
    assert deliver(env, message_id="m3", now=MUCH_LATER).status == "succeeded"  # listed again

    loaded = tickets(env, dataset)
    assert sorted(loaded) == sorted(first) and never not in loaded
    assert {k for k, r in loaded.items() if r["_deleted"]} == set(deleted)
    for key, at in deleted.items():  # the row as last loaded, flagged as of the tombstone's time
        flagged = {**first[key], "_deleted": True, "_deleted_at": at}
        assert {c: loaded[key][c] for c in flagged} == flagged, key


CRASH_POINTS = {
    "after the staging load, before the MERGE": "ingestion.run.steps.merge_into_target",
    "after the MERGE, before the state": "ingestion.run.steps.commit_state",
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_around_the_merge_of_tombstones_then_the_redelivery_gives_the_same_table(
        env, serve, mocker, point):
    api, dataset = zendesk(env, serve, tombstones_only)
    assert deliver(env).status == "succeeded"
    for n in (1, 10, 20):
        api.delete(n)
    api.update(11, subject="still here")
    crash_on_call(mocker, CRASH_POINTS[point])

    with pytest.raises(SimulatedCrash):
        deliver(env, message_id="m2", now=LATER)
    with pytest.raises(LeaseHeld):
        deliver(env, message_id="m2", attempt=2, now=LATER)
    mocker.stopall()
    redelivered = deliver(env, message_id="m2", attempt=3, now=MUCH_LATER)

    assert redelivered.status == "succeeded"
    assert_live_tickets(env, dataset, api)
    assert watermark(env) == z(api.newest_change())


def test_a_replay_rebuilds_tombstone_pages_as_tombstones(env, serve):
    api, dataset = zendesk(env, serve, tombstones_only)
    assert deliver(env).status == "succeeded"
    for n in (2, 13):
        api.delete(n)
    assert deliver(env, message_id="m2", now=LATER).status == "succeeded"
    marked = [page.get("kind") for page in pages(env.settings.bucket, "raw/")]
    assert marked.count("tombstones") == 2  # an empty list in the first run, one page in the second
    bq_helper.query(f"DELETE FROM `{env.settings.project}.{dataset}.tickets` WHERE TRUE")
    requests = len(api.requests)

    replayed = deliver(env, {"entity": ENTITY, "sync_mode": "replay"}, message_id="m3", now=MUCH_LATER)

    assert replayed.status == "succeeded"
    assert len(api.requests) == requests  # no API call
    assert_live_tickets(env, dataset, api)  # the deleted tickets' old versions lose to their tombstones
    assert [r["status"] for r in runs(env)] == ["succeeded"] * 3
    assert all(r.path in (EXPORT, DELETED) for r in api.requests)
