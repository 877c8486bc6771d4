"""The example configs under config/, each run end to end (API → GCS → BigQuery) against a local
simulator of its API style, and the loaded table compared with the simulator's ground truth."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal

import pytest

from ingestion.contract.dates import parse_instant
from ingestion.contract.errors import ApiError, RetryableError
from ingestion.run.decide import is_retryable
from tests.support.apis import NOW
from tests.support.apis.amplitude import API_KEY as AMP_KEY
from tests.support.apis.amplitude import SECRET_KEY as AMP_SECRET
from tests.support.apis.amplitude import AmplitudeApi
from tests.support.apis.facebook import ACCESS_TOKEN as FB_TOKEN
from tests.support.apis.facebook import ACCOUNTS as FB_ACCOUNTS
from tests.support.apis.facebook import FacebookApi
from tests.support.apis.genesys import CLIENT_ID as GENESYS_ID
from tests.support.apis.genesys import CLIENT_SECRET as GENESYS_SECRET
from tests.support.apis.genesys import QUERY_PATH, GenesysApi
from tests.support.apis.jira import API_TOKEN as JIRA_TOKEN
from tests.support.apis.jira import EMAIL as JIRA_EMAIL
from tests.support.apis.jira import JiraApi
from tests.support.apis.metrc import LICENSES, USER_KEY, VENDOR_KEY, MetrcApi
from tests.support.apis.splash import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN, SplashApi
from tests.support.catalog import sync
from tests.support.delivery import store_secret
from tests.support.rawpages import pages
from tests.support.tables import table
from utils import bq_helper, gcs_helper, secret_manager_helper


def start_example(env, serve, api, source: str, secret_name: str, secret: dict) -> str:
    """Serve `api` where config/<source> expects it (${<SOURCE>_API_URL}), store the source's secret
    and copy its configs; returns the test's dataset."""
    serve(api, f"{source.upper()}_API_URL")
    store_secret(env.settings.project, secret_name, secret)
    return env.copy_configs(source)


def assert_replay_rebuilds(env, api, dataset: str, name: str, entity: str, key) -> None:
    """Drop the table, replay the entity from its raw pages: the same rows, no API call."""
    before, calls = table(env, dataset, name, key), len(api.requests)
    bq_helper.delete_table(f"{env.settings.project}.{dataset}.{name}")
    sync(env, entity, "replay")
    assert table(env, dataset, name, key) == before and len(api.requests) == calls


def test_splash_events_with_rotating_refresh_tokens(env, serve):
    api = SplashApi(expire_tokens_after=3)
    dataset = start_example(env, serve, api, "splash", "splash-oauth", {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": FIRST_REFRESH_TOKEN})
    project = env.settings.project
    first_version = secret_manager_helper.access_secret_version(project, "splash-oauth")[1]

    run = sync(env, "splash/events")

    loaded = table(env, dataset, "events", lambda r: r["id"])
    truth = api.truth()
    assert set(loaded) == set(truth) and run.records == len(truth)
    sample = truth[5042]
    row = loaded[5042]
    assert row["venue_city"] == sample["venue"]["address"]["city"]
    assert row["venue_name"] == sample["venue"]["name"]
    assert row["modified_at"] == parse_instant(sample["modified_at"])
    # one refresh to start, one after the token lapsed mid-run (a 401, then the page again)
    assert api.oauth.grants == ["refresh_token", "refresh_token"]
    stored, version = secret_manager_helper.access_secret_version(project, "splash-oauth")
    stored = json.loads(stored)
    assert stored["refresh_token"] in api.oauth.refresh_tokens  # the live, rotated token was saved
    assert stored["refresh_token"] != FIRST_REFRESH_TOKEN and stored["client_id"] == CLIENT_ID
    assert version != first_version
    with pytest.raises(Exception, match="DESTROYED"):  # superseded versions are not left around
        secret_manager_helper.access_secret_version(project, "splash-oauth", first_version.rsplit("/", 1)[1])

    sync(env, "splash/events")  # the next run reuses the stored access token: no refresh needed
    assert api.oauth.grants == ["refresh_token", "refresh_token"]
    state, _ = gcs_helper.read(env.settings.bucket, "state/splash/events.json")
    assert json.loads(state)["watermark"] == max(e["modified_at"] for e in truth.values())


def test_metrc_packages_fan_out_per_license_with_own_state(env, serve):
    api = MetrcApi()
    dataset = start_example(env, serve, api, "metrc", "metrc-api",
                            {"vendor_key": VENDOR_KEY, "user_key": USER_KEY})

    sync(env, "metrc/packages")

    loaded = table(env, dataset, "packages", lambda r: (r["LicenseNumber"], r["Id"]))
    truth = api.truth()
    assert set(loaded) == set(truth)
    row, sample = loaded[("LIC-002", 7)], truth[("LIC-002", 7)]
    assert row["Label"] == sample["Label"] and row["ItemName"] == sample["Item"]["Name"]
    assert row["LoadedAt"] is not None
    for license_number in LICENSES:  # each license has its own watermark
        state, _ = gcs_helper.read(env.settings.bucket, f"state/metrc/packages/{license_number}.json")
        newest = max(parse_instant(p["LastModified"]) for p in api.packages[license_number])
        assert parse_instant(json.loads(state)["watermark"]) == newest
    calls = api.calls("/packages/v2/active")
    assert {c.args["licenseNumber"] for c in calls} == set(LICENSES)
    assert all(parse_instant(c.args["lastModifiedEnd"]) - parse_instant(c.args["lastModifiedStart"])
               <= timedelta(hours=24) for c in calls)
    assert_replay_rebuilds(env, api, dataset, "packages", "metrc/packages",  # items from page metadata
                           lambda r: (r["LicenseNumber"], r["Id"]))


def test_genesys_conversations_post_query_with_client_credentials(env, serve, monkeypatch):
    api = GenesysApi()
    dataset = start_example(env, serve, api, "genesys", "genesys-oauth",
                            {"client_id": GENESYS_ID, "client_secret": GENESYS_SECRET})
    monkeypatch.setenv("GENESYS_LOGIN_URL", os.environ["GENESYS_API_URL"])  # token host: same simulator

    sync(env, "genesys/conversations")
    sync(env, "genesys/conversations")  # later run: same cached token, lookback re-read merges cleanly

    loaded = table(env, dataset, "conversations", lambda r: r["conversationId"])
    truth = api.truth()
    assert set(loaded) == set(truth)
    some_id = sorted(truth)[0]
    assert [p["sessions"][0]["sessionId"] for p in loaded[some_id]["participants"]] == ["s0", "s1"]
    assert api.oauth.grants == ["client_credentials"]  # cached across runs of the process
    bodies = [r.get_json() for r in api.calls(QUERY_PATH)]
    assert all(set(b["paging"]) == {"pageNumber", "pageSize"} for b in bodies)
    # days without conversations answer {"totalHits": 0}: an empty page, not an error
    assert any(b["interval"].startswith("2026-03-08") for b in bodies)


def test_jira_requests_start_limit_is_last_page_and_a_jql_window(env, serve):
    api = JiraApi()
    dataset = start_example(env, serve, api, "jira", "jira-api",
                            {"email": JIRA_EMAIL, "api_token": JIRA_TOKEN})

    sync(env, "jira/requests")

    loaded = table(env, dataset, "requests", lambda r: r["issueKey"])
    truth = api.truth()
    assert set(loaded) == set(truth)
    assert loaded["SD-9"]["status"] == truth["SD-9"]["currentStatus"]["status"]
    status_date = truth["SD-9"]["currentStatus"]["statusDate"]["iso8601"]
    assert loaded["SD-9"]["updated_at"] == parse_instant(status_date)
    assert loaded["SD-9"]["reporter_email"] == "user9@example.com"
    sent = {k: v for k, v in truth["SD-9"].items() if k != "_updated"}
    assert loaded["SD-9"]["_raw"] == sent and "+0300" in status_date  # raw_json: the record as sent
    starts = [int(r.args["start"]) for r in api.calls("/rest/servicedeskapi/request")]
    assert starts == [0, 30, 60, 90]


def test_amplitude_hourly_zip_export_respects_the_availability_lag(env, serve):
    api = AmplitudeApi()
    dataset = start_example(env, serve, api, "amplitude", "amplitude-api",
                            {"api_key": AMP_KEY, "secret_key": AMP_SECRET})

    run = sync(env, "amplitude/events")

    complete_until = (NOW - timedelta(hours=2)).replace(minute=0)  # 10:00 for 12:30
    loaded = table(env, dataset, "events", lambda r: r["uuid"])
    truth = api.truth(before=complete_until)
    assert set(loaded) == set(truth) and run.records == len(truth)
    assert loaded[sorted(truth)[0]]["event_properties"]["plan"] in ("free", "pro")
    calls = api.calls("/api/2/export")
    assert [(c.args["start"], c.args["end"]) for c in calls][:2] == [("20260309T20", "20260309T20"),
                                                                      ("20260309T21", "20260309T21")]
    assert calls[-1].args["end"] == "20260310T09"  # the last complete hour
    assert run.pages == len(calls)  # the quiet hour's 404 is an empty page, not a failure
    objects = gcs_helper.list_paths(env.settings.bucket, "raw/amplitude/events/")
    assert objects and all(o.endswith(".zip") for o in objects)
    assert_replay_rebuilds(env, api, dataset, "events", "amplitude/events", lambda r: r["uuid"])


def fast_polls(spec: dict) -> None:
    spec["async_job"].update(poll_interval_seconds=0.01, max_poll_interval_seconds=0.02)


def test_facebook_async_insights_jobs_per_account(env, serve):
    api = FacebookApi()
    dataset = start_example(env, serve, api, "facebook", "facebook-ads", {"access_token": FB_TOKEN})
    env.edit_config("facebook/ad_insights", fast_polls)

    sync(env, "facebook/ad_insights")

    loaded = table(env, dataset, "ad_insights",
                   lambda r: (r["account_id"], r["ad_id"], r["date_start"].isoformat()))
    truth = api.truth()
    assert set(loaded) == set(truth)
    key = sorted(truth)[5]
    assert loaded[key]["impressions"] == int(truth[key]["impressions"])
    assert loaded[key]["spend"] == Decimal(truth[key]["spend"])
    assert {job["account"] for job in api.jobs.values()} == set(FB_ACCOUNTS)  # one job per account
    assert all(job["polls"] == 2 for job in api.jobs.values())
    objects = gcs_helper.list_paths(env.settings.bucket, "raw/facebook/ad_insights/")
    for path in objects:  # the token in the query string never reaches stored pages
        data, _ = gcs_helper.read(env.settings.bucket, path)
        assert FB_TOKEN.encode() not in data
    assert all("access_token=REDACTED" in page["url"] for page in pages(env.settings.bucket, objects[0]))


def test_a_failed_report_job_is_a_permanent_error_naming_the_job(env, serve):
    start_example(env, serve, FacebookApi(fail=True), "facebook", "facebook-ads", {"access_token": FB_TOKEN})
    env.edit_config("facebook/ad_insights", fast_polls)
    with pytest.raises(ApiError, match="report job rr1 ended with status 'Job Failed'") as error:
        sync(env, "facebook/ad_insights")
    assert not is_retryable(error.value)


def test_a_report_job_that_never_finishes_is_retryable(env, serve):
    start_example(env, serve, FacebookApi(polls_until_done=10_000), "facebook", "facebook-ads",
                  {"access_token": FB_TOKEN})

    def slow_job(spec: dict) -> None:
        fast_polls(spec)
        spec["async_job"]["timeout_seconds"] = 0.1

    env.edit_config("facebook/ad_insights", slow_job)
    with pytest.raises(RetryableError, match=r"report job rr1 still 'Job Running' after 0.1 s") as error:
        sync(env, "facebook/ad_insights")
    assert is_retryable(error.value)
    assert gcs_helper.list_paths(env.settings.bucket, "state/") == []  # nothing advanced
