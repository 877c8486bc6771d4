"""Two example configs run end to end against simulators written from the vendors' documentation,
the loaded table compared with the simulator's ground truth row by row:

- `config/ga4/daily_traffic.json`: Google Analytics 4 `runReport` (POST body with the window as
  `dateRanges`, `limit`/`offset` paging in the body, rows described by `dimensionHeaders` /
  `metricHeaders`, metric values as strings, `date` as YYYYMMDD, an empty report without `rows`),
  a service-account key JSON exchanged for a token (`jwt_bearer`);
- `config/appstore/sales.json`: App Store Connect daily Summary Sales Reports (one gzipped TSV per
  day, header names with spaces, `MM/DD/YYYY` dates, 404 for a day without sales), an ES256 JWT
  signed per request (`jwt`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ingestion.source.oauth import CachedToken
from tests.support.apis.appstore import COLUMNS, ISSUER_ID, VENDOR_NUMBER, AppStoreSalesApi
from tests.support.apis.ga4 import PROPERTY_ID, SCOPE, AnalyticsData, GoogleOAuth
from tests.support.apis.tokens import new_key, service_account_key
from tests.support.catalog import sync
from tests.support.delivery import store_secret
from tests.support.tables import table_rows as rows


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch):
    """Tokens are cached per process: each test starts without any."""
    monkeypatch.setattr(CachedToken, "_cache", {})


def test_ga4_run_report_pages_by_offset_in_the_body_and_reads_header_described_rows(env, serve):
    pem, public = new_key("RS256")
    oauth = GoogleOAuth(public)
    oauth.url = serve(oauth, "GA4_TOKEN_URL")
    key = service_account_key(oauth.url + "/token", pem)  # an unmodified key file, token_uri → simulator
    oauth.kid = key["private_key_id"]
    api = AnalyticsData(oauth)
    serve(api, "GA4_API_URL")
    store_secret(env.settings.project, "ga4-sa", key)
    dataset = env.copy_configs("ga4")
    # Small pages so a day takes several (the shipped 10000 never pages on this little data).
    env.edit_config("ga4/daily_traffic", lambda spec: spec["pagination"].update(page_size=10))

    run = sync(env, "ga4/daily_traffic")

    assert run.status == "succeeded", run
    loaded = rows(env, dataset, "daily_traffic")
    by_key = {(r["property_id"], r["date"], r["country"], r["device_category"]): r for r in loaded}
    assert len(by_key) == len(loaded), "duplicate keys in the target table"
    truth = api.truth(through=date(2026, 3, 9))  # whole days only: today (03-10) is not complete
    assert set(by_key) == {(PROPERTY_ID, *k) for k in truth}
    for k, fact in truth.items():
        row = by_key[(PROPERTY_ID, *k)]
        assert (row["active_users"], row["sessions"], row["screen_page_views"]) == (
            fact["activeUsers"], fact["sessions"], fact["screenPageViews"]), k
        assert row["bounce_rate"] == pytest.approx(fact["bounceRate"], rel=1e-12), k

    calls = api.report_calls()
    # One report per day, both bounds the same day (endDate is inclusive), from start_date to yesterday.
    days = sorted({(c["dateRanges"][0]["startDate"], c["dateRanges"][0]["endDate"]) for c in calls})
    assert days == [(f"2026-03-0{d}", f"2026-03-0{d}") for d in range(1, 10)]
    assert all(c["limit"] == 10 for c in calls) and any(c["offset"] > 0 for c in calls)
    assert {c["offset"] for c in calls if c["dateRanges"][0]["startDate"] == "2026-03-01"} == {0}  # empty day
    assert all(r.path == f"/v1beta/properties/{PROPERTY_ID}:runReport" for r in api.requests)
    (claims,) = oauth.assertions  # one token for the whole run
    assert claims["scope"] == SCOPE and claims["aud"] == key["token_uri"]
    assert claims["iss"] == key["client_email"]


def test_app_store_connect_daily_sales_reports_are_gzipped_tsv_with_a_404_for_a_day_without_sales(
        env, serve, monkeypatch):
    pem, public = new_key("ES256")
    kid = "2X9R4HXF34"
    api = AppStoreSalesApi(public, kid)
    serve(api, "APPSTORE_API_URL")
    monkeypatch.setenv("APPSTORE_VENDOR_NUMBER", VENDOR_NUMBER)
    store_secret(env.settings.project, "app-store-connect",
                 {"private_key": pem, "key_id": kid, "issuer_id": ISSUER_ID})
    dataset = env.copy_configs("appstore")

    run = sync(env, "appstore/sales")

    assert run.status == "succeeded", run
    loaded = rows(env, dataset, "sales")
    truth = api.truth()
    assert len(loaded) == len(truth)

    def key(report_date: date, sku: str, ptype: str, country: str, device: str) -> tuple:
        return report_date, sku, ptype, country, device

    by_key = {key(r["report_date"], r["sku"], r["product_type_identifier"], r["country_code"], r["device"]): r
              for r in loaded}
    assert len(by_key) == len(loaded)
    numeric = {"Units", "Developer Proceeds", "Customer Price"}
    for line in truth:
        month, day, year = line["Begin Date"].split("/")
        report_date = date(int(year), int(month), int(day))
        row = by_key[key(report_date, line["SKU"], line["Product Type Identifier"], line["Country Code"],
                         line["Device"])]
        for column in COLUMNS:
            name = column.lower().replace(" ", "_")
            expected: object = line[column]
            if column in numeric:
                expected = Decimal(line[column])
            elif column == "Apple Identifier":
                expected = int(line[column])
            assert row[name] == expected, (name, line)
        assert row["begin_date"] == line["Begin Date"]  # MM/DD/YYYY kept as text

    asked = [r.args for r in api.requests]
    assert [a["filter[reportDate]"] for a in asked] == [f"2026-03-0{d}" for d in range(1, 10)]
    assert all(a["filter[vendorNumber]"] == VENDOR_NUMBER and a["filter[frequency]"] == "DAILY"
               for a in asked)
    assert date(2026, 3, 4) not in {r["report_date"] for r in loaded}  # the 404 day: no rows, no failure
    claims = next(iter(api.tokens_seen.values()))
    assert claims["aud"] == "appstoreconnect-v1" and claims["exp"] - claims["iat"] <= 1200
