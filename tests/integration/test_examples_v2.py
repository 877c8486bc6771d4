"""The second wave of example configs (Extraction v2), each run end to end against a simulator of
its API written from the vendor's documentation, and the table compared with the ground truth."""

from __future__ import annotations

from decimal import Decimal

from ingestion.contract.dates import parse_instant
from tests.support.apis.salesforce import Org, SalesforceInstance, SalesforceLogin
from tests.support.catalog import sync
from tests.support.delivery import store_secret
from tests.support.tables import table


def test_salesforce_soql_logs_in_follows_instance_url_and_pages_by_next_records_url(env, serve):
    org = Org(records=23, batch=5)
    serve(SalesforceLogin(org), "SALESFORCE_LOGIN_URL")
    instance = SalesforceInstance(org)
    org.instance_url = serve(instance, "SALESFORCE_INSTANCE_URL")
    store_secret(env.settings.project, "salesforce-api", org.credentials())
    dataset = env.copy_configs("salesforce")

    run = sync(env, "salesforce/accounts")

    loaded = table(env, dataset, "accounts", "Id")
    assert run.status == "succeeded" and set(loaded) == {r["Id"] for r in org.records}
    for record in org.records:
        row = loaded[record["Id"]]
        assert row["LastModifiedDate"] == parse_instant(record["LastModifiedDate"].replace("+0000", "+00:00"))
        revenue = record["AnnualRevenue"]
        assert row["AnnualRevenue"] == (None if revenue is None else Decimal(str(revenue)))
        assert (row["Name"], row["Industry"], row["IsDeleted"]) == (
            record["Name"], record["Industry"], record["IsDeleted"])
    assert org.logins == 1  # one session for every window and page
    assert any("/query/01g" in r.path for r in instance.requests)  # relative nextRecordsUrl followed


def test_an_xml_feed_with_page_numbers_and_a_modified_since_filter(env, serve):
    from tests.support.apis.partsfeed import API_KEY, PartsFeedApi

    api = PartsFeedApi()
    serve(api, "PARTSFEED_API_URL")
    store_secret(env.settings.project, "partsfeed-api", {"api_key": API_KEY})
    dataset = env.copy_configs("partsfeed")

    run = sync(env, "partsfeed/parts")

    loaded, truth = table(env, dataset, "parts", "part_id"), api.truth()
    assert run.status == "succeeded" and set(loaded) == set(truth)
    for key, part in truth.items():
        row = loaded[key]
        columns = ("name", "price", "currency", "in_stock", "tags")
        assert [row[c] for c in columns] == [part[c] for c in columns], key
        assert row["updated_at"] == part["updated"]
    assert any(int(r.args.get("page", 1)) > 1 for r in api.requests)  # paged by catalog/@pages
