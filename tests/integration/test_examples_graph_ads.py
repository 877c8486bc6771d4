"""Two example configs run end to end against simulators written from the vendors' documentation,
the loaded table compared with the simulator's ground truth row by row:

- `config/msgraph/security_alerts.json`: Microsoft Graph `GET /v1.0/security/alerts_v2`, app-only
  token from the tenant's v2.0 endpoint (client credentials, id and secret in the form, scope
  `https://graph.microsoft.com/.default`), `$filter` on `lastUpdateDateTime`, `$top`, paging by
  the absolute `@odata.nextLink`, a 429 with `Retry-After` waited out, `@odata.type` keys mapped
  with bracket paths;
- `config/googleads/campaign_stats.json`: Google Ads `googleAds:searchStream` (GAQL in a POST body
  with the window as `segments.date BETWEEN`, a JSON array of batches read with `[*].results`, a
  summary-row batch and an empty day's batch without `results`, int64 values as strings), a
  refresh token traded at Google's token endpoint plus the `developer-token` and
  `login-customer-id` headers from the secret (`secret_headers`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import requests

from ingestion.source.oauth import CachedToken
from tests.support.apis.googleads import CUSTOMER_ID, MANAGER_ID, VERSION, GoogleAds, GoogleTokenEndpoint
from tests.support.apis.msgraph import ALERTS, SCOPE, EntraLogin, GraphSecurity
from tests.support.catalog import sync
from tests.support.delivery import store_secret
from tests.support.tables import table_rows as rows


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch):
    """Tokens are cached per process: each test starts without any."""
    monkeypatch.setattr(CachedToken, "_cache", {})


def test_graph_security_alerts_filter_on_last_update_page_by_next_link_and_wait_out_a_429(
        env, serve, monkeypatch):
    login = EntraLogin()
    serve(login, "GRAPH_LOGIN_URL")
    monkeypatch.setenv("GRAPH_TENANT_ID", login.tenant_id)
    api = GraphSecurity(login, alerts=60, throttle_pages=(2,), retry_after=1)
    serve(api, "GRAPH_API_URL")
    store_secret(env.settings.project, "msgraph-app", login.credentials())
    dataset = env.copy_configs("msgraph")
    # A small $top so each window takes several pages (the shipped 500 never pages on this data).
    env.edit_config("msgraph/security_alerts", lambda spec: spec["request"]["params"].update({"$top": "7"}))

    run = sync(env, "msgraph/security_alerts")

    assert run.status == "succeeded", run
    loaded = rows(env, dataset, "security_alerts")
    by_id = {r["id"]: r for r in loaded}
    assert len(by_id) == len(loaded), "duplicate keys in the target table"
    truth = api.truth(since=datetime(2026, 3, 1, tzinfo=UTC))
    assert set(by_id) == set(truth)
    assert len(truth) < len(api.alerts)  # alerts last updated in February are filtered out
    for key, alert in truth.items():
        row = by_id[key]
        assert row["odata_type"] == "#microsoft.graph.security.alert"
        for column in ("providerAlertId", "incidentId", "status", "severity", "classification",
                       "determination", "serviceSource", "detectionSource", "title", "category",
                       "assignedTo", "mitreTechniques"):
            assert row[column] == alert[column], (column, key)
        assert row["evidence_types"] == [e["@odata.type"] for e in alert["evidence"]], key
        assert row["createdDateTime"] == alert["_created"], key
        assert row["lastUpdateDateTime"] == alert["_updated"], key  # 7 digits cut to microseconds
        assert row["resolvedDateTime"] == (alert["_updated"] if alert["status"] == "resolved" else None), key

    first_pages = [r.args for r in api.requests if "$skiptoken" not in r.args]
    assert {a["$filter"] for a in first_pages} == {
        "lastUpdateDateTime ge 2026-03-01T00:00:00Z and lastUpdateDateTime lt 2026-03-08T00:00:00Z",
        "lastUpdateDateTime ge 2026-03-08T00:00:00Z and lastUpdateDateTime lt 2026-03-10T12:30:00Z"}
    assert all(r.path == ALERTS and r.args["$top"] == "7" for r in api.requests)
    assert sum("$skiptoken" in r.args for r in api.requests) >= 4  # @odata.nextLink followed
    assert api.throttled and len(api.retried) == len(api.throttled)  # every 429 answered by a retry...
    waits = [back - at for (_, at), back in zip(api.throttled, api.retried, strict=True)]
    assert all(wait >= 0.9 for wait in waits)  # ...after the Retry-After seconds
    (grant,) = login.requests  # one app-only token for the whole run, the secret in the form
    assert grant.path == f"/{login.tenant_id}/oauth2/v2.0/token"
    assert grant.form["scope"] == SCOPE and grant.form["client_id"] == login.client_id
    assert "Authorization" not in grant.headers


def test_google_ads_search_stream_reads_every_batch_with_developer_token_and_login_customer_id(
        env, serve, monkeypatch):
    oauth = GoogleTokenEndpoint()
    monkeypatch.setenv("GOOGLE_ADS_TOKEN_URL", serve(oauth, "GOOGLE_ADS_OAUTH_URL") + "/token")
    api = GoogleAds(oauth, first_day=date(2026, 3, 2), batch_size=3)
    url = serve(api, "GOOGLE_ADS_API_URL")
    monkeypatch.setenv("GOOGLE_ADS_CUSTOMER_ID", CUSTOMER_ID)
    store_secret(env.settings.project, "google-ads", api.credentials())
    dataset = env.copy_configs("googleads")

    # The simulator refuses what Google Ads refuses: a live token without the developer-token header.
    oauth.tokens.add("ya29.probe")
    refused = requests.post(f"{url}/{VERSION}/customers/{CUSTOMER_ID}/googleAds:searchStream",
                            json={"query": "SELECT campaign.id FROM campaign"},
                            headers={"Authorization": "Bearer ya29.probe", "login-customer-id": MANAGER_ID},
                            timeout=10)
    assert refused.status_code == 400
    (failure,) = refused.json()["error"]["details"]
    assert failure["errors"][0]["errorCode"] == {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}
    oauth.tokens.discard("ya29.probe")
    api.requests.clear()

    run = sync(env, "googleads/campaign_stats")

    assert run.status == "succeeded", run
    loaded = rows(env, dataset, "campaign_stats")
    by_key = {(r["customer_id"], r["campaign_id"], r["date"]): r for r in loaded}
    assert len(by_key) == len(loaded), "duplicate keys in the target table"
    truth = api.truth(through=date(2026, 3, 9))  # whole days only: today (03-10) is not complete
    assert set(by_key) == set(truth)
    for key, fact in truth.items():
        row = by_key[key]
        campaign = fact["campaign"]
        assert (row["campaign_name"], row["campaign_status"]) == (campaign["name"], campaign["status"])
        assert (row["impressions"], row["clicks"], row["cost_micros"]) == (
            fact["impressions"], fact["clicks"], fact["cost_micros"]), key
        assert row["ctr"] == pytest.approx(fact["ctr"], rel=1e-12), key

    queries = api.queries()
    windows = [q["query"].split("BETWEEN ")[1] for q in queries]
    assert windows == [f"'2026-03-0{d}' AND '2026-03-0{d}'" for d in range(1, 10)]  # BETWEEN is inclusive
    assert all(q["summaryRowSetting"] == "SUMMARY_ROW_WITH_RESULTS" for q in queries)
    assert all(r.path == f"/{VERSION}/customers/{CUSTOMER_ID}/googleAds:searchStream"
               and r.headers["developer-token"] == api.developer_token
               and r.headers["login-customer-id"] == MANAGER_ID for r in api.requests)
    # Several batches a day (3 rows each) plus the summary batch; 03-01 was one batch without results.
    assert max(len([f for f in api.facts if f["date"] == date(2026, 3, d)]) for d in range(2, 10)) > 3
    assert not [f for f in api.facts if f["date"] == date(2026, 3, 1)]
    (grant,) = oauth.requests  # one refresh for the whole run; Google sends no new refresh token
    assert grant.form["grant_type"] == "refresh_token" and grant.form["client_id"] == oauth.client_id
