"""The `session` auth type against local servers: a Salesforce-like org (login host + instance host,
SOQL paged by relative `nextRecordsUrl`) and a JSON login API with a header or cookie token."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from ingestion.contract import envrefs
from ingestion.contract.config import deep_merge
from ingestion.contract.errors import AuthError
from ingestion.contract.schema import schema_errors
from ingestion.run.decide import is_retryable
from ingestion.source.session import SessionAuth, rebase
from tests.support.apis import fake_credential
from tests.support.apis.salesforce import (
    VERSION,
    Org,
    SalesforceInstance,
    SalesforceLogin,
    SessionLoginApi,
)
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import extract

SF_AUTH = {"type": "session", "secret": "salesforce-api", "login_url": "/services/oauth2/token",
           "body": "form", "credentials": {"client_id": "client_id", "client_secret": "client_secret",
                                           "username": "username", "password": "password"},
           "login_params": {"grant_type": "password"}, "token_path": "access_token",
           "base_url_path": "instance_url"}
HTTP = {"max_retries": 2, "backoff_factor": 0}


@pytest.fixture(autouse=True)
def fresh_sessions(monkeypatch):
    """Sessions are cached per process: each test starts without any."""
    monkeypatch.setattr(SessionAuth, "_cache", {})


def valid_entity(spec: dict):
    assert schema_errors("resolved", deep_merge(MINIMAL, spec)) == []
    return entity_config(spec)


@pytest.fixture
def salesforce(serve):
    """(org, login server, instance server, the entity: base_url is the login host)."""
    org = Org(records=5, batch=2)
    login, instance = SalesforceLogin(org), SalesforceInstance(org)
    org.instance_url = serve(instance, "SF_INSTANCE_URL")
    entity = valid_entity({
        "base_url": serve(login, "SF_LOGIN_URL"), "auth": SF_AUTH, "http": HTTP,
        "request": {"path": f"{VERSION}/query", "params": {"q": "SELECT Id, Name FROM Account"}},
        "records": {"path": "records"},
        "pagination": {"type": "next_url", "next_url_path": "nextRecordsUrl"}})
    return org, login, instance, entity


def names(pages) -> list[str]:
    return [r["Name"] for p in pages for r in p.records]


def test_salesforce_login_then_every_request_goes_to_the_instance(salesforce):
    org, login, instance, entity = salesforce
    pages = extract(entity, SF_AUTH, org.credentials())
    assert names(pages) == [f"Acme {i}" for i in range(1, 6)]
    assert [(r.method, r.path) for r in login.requests] == [("POST", "/services/oauth2/token")]
    assert login.requests[0].form["grant_type"] == "password"
    assert [r.path for r in instance.requests] == [
        f"{VERSION}/query", f"{VERSION}/query/01gD0000000001-2", f"{VERSION}/query/01gD0000000001-4"]
    assert all(p.response.url.startswith(org.instance_url) for p in pages)


def test_the_session_is_reused_by_later_runs_and_renewed_after_a_401(salesforce):
    org, _, instance, entity = salesforce
    extract(entity, SF_AUTH, org.credentials())
    extract(entity, SF_AUTH, org.credentials())  # another run of the same process
    assert org.logins == 1
    org.expire_sessions()  # Salesforce's session timeout: INVALID_SESSION_ID
    assert len(names(extract(entity, SF_AUTH, org.credentials()))) == 5
    assert org.logins == 2
    assert len(instance.requests) == 3 + 3 + 1 + 3  # the refused request, then the walk again


def test_an_api_refusing_a_fresh_session_is_a_permanent_error_naming_the_secret(salesforce):
    org, _, instance, entity = salesforce
    instance.org = Org()  # the instance knows none of the login host's sessions
    with pytest.raises(AuthError) as caught:
        extract(entity, SF_AUTH, org.credentials())
    assert "secret 'salesforce-api' even after logging in again" in str(caught.value)
    assert org.logins == 2 and not is_retryable(caught.value)


def test_a_wrong_password_is_permanent_and_never_echoed(salesforce):
    org, _, instance, entity = salesforce
    secret = {**org.credentials(), "password": "wrong-" + org.password}
    with pytest.raises(AuthError) as caught:
        extract(entity, SF_AUTH, secret)
    message = str(caught.value)
    assert "secret 'salesforce-api'" in message and "(HTTP 400): " in message
    assert "authentication failure" in message  # Salesforce's own words, for the operator
    assert secret["password"] not in message and not is_retryable(caught.value)
    assert instance.requests == []


PLAIN_AUTH = {"type": "session", "secret": "acme-login", "login_url": "/api/session",
              "credentials": {"auth.user": "user", "auth.pass": "password"},
              "login_params": {"client": "ingest"}, "expires_in_path": "expires_in", "prefix": ""}
BY_HEADER = {**PLAIN_AUTH, "token_header": "X-Session-Token", "name": "X-Session"}
BY_COOKIE = {**PLAIN_AUTH, "token_cookie": "sid", "in": "cookie", "name": "sid"}


@pytest.mark.parametrize("via,auth", [("header", BY_HEADER), ("cookie", BY_COOKIE)])
def test_json_login_with_the_token_in_a_header_or_a_cookie(serve, via, auth):
    password = "pw-" + str(time.time_ns())
    api = SessionLoginApi("bot", password, via=via)
    api_url = serve(api, "ACME_URL")
    entity = valid_entity({"base_url": api_url, "auth": auth, "http": HTTP,
                           "request": {"path": "/api/items"}, "records": {"path": "data"},
                           "pagination": {"type": "page_number", "page_param": "page"}})
    secret = {"user": "bot", "password": password}
    for _ in range(2):  # the second run (a new HTTP session) reuses the token
        pages = extract(entity, auth, secret)
        assert [r["id"] for p in pages for r in p.records] == [10, 11, 20, 21]
    assert api.logins == 1
    assert api.requests[0].get_json() == {"auth": {"user": "bot", "pass": password}, "client": "ingest"}

    (key, login), = [(k, t) for k, t in SessionAuth._cache.items() if k[0] == "session"
                      and k[1].startswith(api_url)]  # expires_in 3600, renewed a minute early
    assert time.time() + 3500 < login.renew_at < time.time() + 3541
    SessionAuth._cache[key] = dataclasses.replace(login, renew_at=time.time() - 1)
    extract(entity, auth, secret)
    assert api.logins == 2


def test_a_refused_login_never_passes_on_an_echoed_password(serve):
    api = SessionLoginApi("bot", "the-right-one")
    entity = valid_entity({"base_url": serve(api, "ACME_URL"), "auth": BY_HEADER,
                           "request": {"path": "/api/items"}, "records": {"path": "data"}})
    with pytest.raises(AuthError) as caught:
        extract(entity, BY_HEADER, {"user": "bot", "password": (wrong := fake_credential("wrong"))})
    assert "bad credentials" in str(caught.value) and wrong not in str(caught.value)


@pytest.mark.parametrize("url,expected", [
    ("https://login.example.com/services/data/v60.0/query?q=x", "https://na1.example.com/services/data/v60.0/query?q=x"),
    ("https://login.example.com/other/path", "https://na1.example.com/other/path"),  # root-relative link
    ("https://cdn.example.net/file.csv", "https://cdn.example.net/file.csv"),  # absolute: left alone
    ("https://na1.example.com/services/x", "https://na1.example.com/services/x"),
])
def test_rebase_to_a_bare_instance_url_keeps_the_configured_path(url, expected):
    assert rebase(url, "https://login.example.com/services/", "https://na1.example.com/") == expected


def test_rebase_to_a_session_url_with_a_path_replaces_the_configured_one():
    assert rebase("https://api.example.com/v1/items?page=2", "https://api.example.com/v1",
                  "https://eu.example.com/tenant/v1") == "https://eu.example.com/tenant/v1/items?page=2"


def test_login_url_reads_the_environment_and_exactly_one_token_source_is_allowed(monkeypatch):
    monkeypatch.setenv("SF_LOGIN", "https://test.salesforce.com/services/oauth2/token")
    spec = {"auth": {**SF_AUTH, "login_url": "${SF_LOGIN}"}}
    envrefs.expand(spec, lambda keys: Path("config/sf/_source.json"))
    assert spec["auth"]["login_url"] == "https://test.salesforce.com/services/oauth2/token"
    both = deep_merge(MINIMAL, {"auth": {**SF_AUTH, "token_header": "X-Token"}})
    neither = deep_merge(MINIMAL, {"auth": {k: v for k, v in SF_AUTH.items() if k != "token_path"}})
    assert schema_errors("resolved", both) and schema_errors("resolved", neither)
