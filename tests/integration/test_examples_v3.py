"""The third wave of example configs (Extraction v2, part 2), each loaded through the function
against a simulator of its API written from the vendor's documentation, the table compared with
the simulator's ground truth; the simulators count requests, so the tests also check how much an
incremental run of an API without a date filter had to read:

- `config/hubspot/contacts.json`: HubSpot CRM v3 objects, cursor paging in id order and no date
  filter; `incremental.client_filter` merges only what changed, the rest is counted as filtered;
  an archived contact leaves the table with the next full snapshot;
- `config/zendesk/ticket_audits.json`: a newest-first feed without a date filter;
  `incremental.order: newest_first` stops paging after the first page wholly before the watermark
  minus the lookback;
- `config/slack/messages.json`: Slack `conversations.history`, `oldest`/`latest` as Unix seconds
  with microseconds, `ts` as the key, errors inside HTTP 200 bodies (`response_actions`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.apis import NOW
from tests.support.apis.hubspot import CONTACTS, HubSpotCrm
from tests.support.apis.slack import CHANNELS, HISTORY, SlackWorkspace, slack_ts, ts_instant
from tests.support.apis.zendesk import AUDITS, ZendeskAudits
from tests.support.catalog import runs, sync
from tests.support.delivery import store_secret
from tests.support.tables import table, table_rows

MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def test_hubspot_contacts_are_read_in_full_but_a_second_run_merges_only_the_changed_ones(env, serve):
    api = HubSpotCrm(contacts=45, archived=5)
    serve(api, "HUBSPOT_API_URL")
    store_secret(env.settings.project, "hubspot-private-app", api.credentials())
    dataset = env.copy_configs("hubspot")
    env.edit_config("hubspot/contacts", lambda spec: spec["pagination"].update(page_size=10))
    live = api.live()
    pages = math.ceil(len(live) / 10)

    first = sync(env, "hubspot/contacts")

    assert first.status == "succeeded", first
    loaded = table(env, dataset, "contacts", "id")
    assert set(loaded) == set(live) and len(live) == 40  # archived contacts are never listed
    for cid, contact in live.items():
        row, values = loaded[cid], contact["values"]
        for column in ("email", "firstname", "lastname", "company", "phone", "lifecyclestage"):
            assert row[column] == values[column], (column, cid)
        assert row["num_associated_deals"] == int(values["num_associated_deals"])  # sent as a string
        assert (row["createdAt"], row["updatedAt"], row["archived"]) == (
            contact["createdAt"], contact["updatedAt"], False), cid
    assert first.filtered == 0 and first.watermark == max(c["updatedAt"] for c in live.values())
    assert len(api.requests) == pages and all(r.path == CONTACTS for r in api.requests)
    assert all(r.args["archived"] == "false" and r.args["limit"] == "10" for r in api.requests)
    assert "lifecyclestage" in api.requests[0].args["properties"].split(",")
    assert sum("after" in r.args for r in api.requests) == pages - 1  # paging.next.after followed

    changed = api.change(3, at=NOW + timedelta(minutes=30))
    api.requests.clear()
    second = sync(env, "hubspot/contacts", now=NOW + timedelta(hours=1))

    assert second.status == "succeeded", second
    cutoff = first.watermark - timedelta(hours=1)  # the config's lookback re-reads the last hour
    reread = {cid for cid, c in api.live().items() if c["updatedAt"] >= cutoff and cid not in changed}
    assert reread  # the newest contact of the first run at least
    assert len(api.requests) == pages  # no date filter: every page is read again...
    assert second.rows_merged == len(changed) + len(reread)  # ...but only what changed is merged
    assert second.filtered == len(live) - len(changed) - len(reread)
    assert second.watermark == NOW + timedelta(minutes=30, milliseconds=2)
    reloaded = table(env, dataset, "contacts", "id")
    assert set(reloaded) == set(live)
    for cid in changed:
        assert reloaded[cid]["lifecyclestage"] == api.contacts[cid]["values"]["lifecyclestage"]
        assert reloaded[cid]["updatedAt"] == api.contacts[cid]["updatedAt"]

    # An archived contact drops out of the list, which an incremental run cannot see; the next
    # full snapshot (client_filter does not apply to it) removes it from the table.
    gone = changed[0]
    api.archive(gone, NOW + timedelta(hours=2))
    full = sync(env, "hubspot/contacts", mode="historical_full", now=NOW + timedelta(hours=3))
    assert full.status == "succeeded" and full.rows_deleted == 1 and full.filtered == 0, full
    assert set(table(env, dataset, "contacts", "id")) == set(live) - {gone}


def test_a_newest_first_feed_stops_paging_once_a_page_lies_wholly_before_the_watermark(env, serve):
    api = ZendeskAudits(audits=60)
    serve(api, "ZENDESK_URL")
    store_secret(env.settings.project, "zendesk-api", api.credentials())
    dataset = env.copy_configs("zendesk")
    env.edit_config("zendesk/ticket_audits", lambda spec: spec["pagination"].update(page_size=10))
    total_pages = math.ceil(len(api.audits) / 10)

    first = sync(env, "zendesk/ticket_audits")

    assert first.status == "succeeded", first
    needed = api.pages_until(MARCH, 10)  # the config's start_date
    assert len(api.requests) == needed < total_pages
    assert first.filtered == needed * 10 - len(api.truth(MARCH))  # older audits on the last page read
    loaded = table(env, dataset, "ticket_audits", "id")
    assert set(loaded) == set(api.truth(MARCH))
    for key, audit in api.truth(MARCH).items():
        row = loaded[key]
        assert (row["ticket_id"], row["author_id"], row["created_at"]) == (
            audit["ticket_id"], audit["author_id"], audit["_at"]), key
        assert row["via_channel"] == audit["via"]["channel"]
        assert row["event_types"] == [e["type"] for e in audit["events"]]
    cursors = [r.args["cursor"] for r in api.requests if "cursor" in r.args]
    assert len(cursors) == needed - 1 and all(c.startswith("++") for c in cursors)  # sent URL-encoded

    new = api.add([NOW + timedelta(minutes=m) for m in (5, 15, 25)])
    api.requests.clear()
    second = sync(env, "zendesk/ticket_audits", now=NOW + timedelta(hours=1))

    assert second.status == "succeeded", second
    cutoff = first.watermark - timedelta(hours=1)  # the config's lookback
    assert len(api.requests) == api.pages_until(cutoff, 10) == 2  # one page of news, one that is too old
    assert second.rows_merged == len(api.truth(cutoff))
    assert {a["id"] for a in new} <= set(api.truth(cutoff))
    assert second.filtered == 2 * 10 - len(api.truth(cutoff))
    assert set(table(env, dataset, "ticket_audits", "id")) == set(api.truth(MARCH))
    assert all(r.path == AUDITS and r.args["limit"] == "10" for r in api.requests)


def test_slack_history_by_channel_with_microsecond_bounds_and_rate_limits_inside_and_outside_200(env, serve):
    api = SlackWorkspace(per_channel=40, serve_at_most=5, ratelimited_pages=(2,), http_429_pages=(3,))
    serve(api, "SLACK_API_URL")
    store_secret(env.settings.project, "slack-bot", api.credentials())
    dataset = env.copy_configs("slack")
    env.edit_config("slack/_source", lambda spec: spec["http"].update(requests_per_second=50))

    run = sync(env, "slack/messages")

    assert run.status == "succeeded", run
    loaded = table(env, dataset, "messages", lambda r: (r["channel"], r["ts"]))
    truth = api.truth(MARCH)
    assert set(loaded) == set(truth)
    assert (CHANNELS[0], slack_ts(datetime(2026, 3, 8, tzinfo=UTC))) in loaded  # on a window bound
    assert len({ts for _, ts in loaded}) == len(loaded) - 1  # one ts is in both channels
    for key, message in truth.items():
        row = loaded[key]
        assert row["posted_at"] == ts_instant(message["ts"]), key
        for column in ("type", "subtype", "user", "bot_id", "username", "text", "thread_ts", "reply_count",
                       "client_msg_id"):
            assert row[column] == message.get(column), (column, key)
        edited = message.get("edited")
        assert row["edited_at"] == (ts_instant(edited["ts"]) if edited else None), key
        assert row["reaction_names"] == [r["name"] for r in message.get("reactions", [])], key

    queries = {(r.args["channel"], r.args["oldest"], r.args["latest"]) for r in api.requests}
    bounds = {("1772323200.000000", "1772928000.000000"), ("1772928000.000000", slack_ts(NOW))}
    assert queries == {(c, *b) for c in CHANNELS for b in bounds}
    assert all(r.path == HISTORY and r.args["inclusive"] == "true" and r.args["limit"] == "200"
               and r.headers["Authorization"] == f"Bearer {api.token}" for r in api.requests)
    assert any(r.args.get("cursor") for r in api.requests)  # response_metadata.next_cursor followed
    refusals = {status for _, status, _ in api.throttled.values()}
    assert refusals == {200, 429} and set(api.retried) == set(api.throttled)  # each answered by a retry
    waits = [api.retried[key] - at for key, (_, status, at) in api.throttled.items() if status == 429]
    assert waits and all(wait >= 0.9 for wait in waits)  # Retry-After waited out


@pytest.mark.parametrize("change, code, calls", [
    (lambda spec: spec["fan_out"].update(items=["C0NOTACHANNEL"]), "channel_not_found", 1),
    (None, "invalid_auth", 2),  # the secret is re-read once (refresh_auth), then the run gives up
])
def test_slack_errors_inside_http_200_fail_the_run_with_their_code(env, serve, change, code, calls):
    api = SlackWorkspace(per_channel=5)
    serve(api, "SLACK_API_URL")
    token = api.token if change else "xoxb-revoked-" + api.token[-6:]
    store_secret(env.settings.project, "slack-bot", {"token": token})
    dataset = env.copy_configs("slack")
    env.edit_config("slack/messages", lambda spec: spec["fan_out"].update(items=[CHANNELS[0]]))
    if change:
        env.edit_config("slack/messages", change)

    with pytest.raises(Exception, match=code):
        sync(env, "slack/messages")

    [row] = runs(env)
    assert row["status"] == "failed" and code in row["error_message"], row
    assert len(api.requests) == calls  # nothing taken for an empty page, nothing retried in a loop
    assert table_rows(env, dataset, "messages") == []

