"""The signed-JWT and Google auth types against local servers that verify every signature with the
public key (tests/support/apis/tokens.py), and `secret_headers` on any auth type. Keys are made
per test; google-auth's own code signs and exchanges against 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import requests

from ingestion.contract.config import deep_merge
from ingestion.contract.errors import AuthError, ConfigError
from ingestion.contract.redact import MASK, redact
from ingestion.contract.schema import entity_schema, schema_errors
from ingestion.contract.sections import Choice, with_defaults
from ingestion.run.decide import is_retryable
from ingestion.source.credentials import AUTHENTICATORS, AuthContext
from ingestion.source.oauth import CachedToken
from tests.support.apis import OAuthProvider, ProtectedApi, fake_credential
from tests.support.apis.tokens import (
    AppStoreConnectApi,
    JwtBearerApi,
    new_key,
    service_account_key,
    write_key_file,
)
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import extract

HTTP = {"max_retries": 2, "backoff_factor": 0}
GA_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch):
    """Tokens are cached per process: each test starts without any."""
    monkeypatch.setattr(CachedToken, "_cache", {})


def entity(base_url: str, auth: dict, **spec):
    """A valid entity walking `/items?page=N` (records at `data`) with `auth`."""
    spec = {"base_url": base_url, "auth": auth, "http": HTTP, "request": {"path": "/items"},
            "records": {"path": "data"}, "pagination": {"type": "page_number", "page_param": "page"},
            **spec}
    assert schema_errors("resolved", deep_merge(MINIMAL, spec)) == []
    return entity_config(spec)


def build(auth: dict, secret: dict, base_url: str = ""):
    choice = Choice.parse(with_defaults({"auth": auth}, entity_schema())["auth"])
    return AUTHENTICATORS.build(choice.type, AuthContext("p", secret, session=requests.Session(),
                                                         base_url=base_url), **choice.options)


def ids(pages) -> list:
    return [r["id"] for p in pages for r in p.records]


@pytest.fixture
def google(serve):
    """(a Google-like token endpoint + API, a service-account key for it, its public key)."""
    pem, public = new_key("RS256")
    api = JwtBearerApi(public, None, "ingest@acme-analytics.iam.gserviceaccount.com")
    api.url = serve(api, "GOOGLE_URL")
    key = service_account_key(api.url + "/token", pem)
    api.kid = key["private_key_id"]
    return api, key


def test_jwt_bearer_reads_an_unmodified_service_account_key(google):
    api, key = google
    auth = {"type": "jwt_bearer", "secret": "ga4-sa", "scope": GA_SCOPE}
    config = entity(api.url, auth)
    for _ in range(2):  # the second run of the process reuses the token
        assert ids(extract(config, auth, key)) == [1, 2, 3]
    (claims,) = api.assertions
    assert claims["scope"] == GA_SCOPE and claims["aud"] == key["token_uri"]
    assert claims["exp"] - claims["iat"] == 180 and "sub" not in claims and claims["jti"]

    api.expire_tokens()  # a 401 re-signs and re-exchanges once, then the walk goes on
    assert ids(extract(config, auth, key)) == [1, 2, 3]
    assert len(api.assertions) == 2 and api.assertions[0]["jti"] != api.assertions[1]["jti"]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_jwt_bearer_salesforce_style_keeps_the_token_response(serve, algorithm):
    pem, public = new_key(algorithm)
    consumer_key, user = fake_credential("3MVG9"), "integration@acme.example"
    api = JwtBearerApi(public, None, consumer_key, algorithm=algorithm, style="salesforce",
                       audience="https://login.salesforce.com", max_lifetime=180, subject=user)
    url = serve(api, "SF_URL")
    auth = {"type": "jwt_bearer", "secret": "sf-jwt", "token_url": "/token", "algorithm": algorithm,
            "audience": "https://login.salesforce.com", "issuer_key": "client_id",
            "subject_key": "username"}
    secret = {"private_key": pem, "client_id": consumer_key, "username": user}
    assert ids(extract(entity(url, auth), auth, secret)) == [1, 2, 3]
    authenticator = build(auth, secret, url)
    assert authenticator.token_response["instance_url"] == "https://acme.my.salesforce.com"
    assert api.assertions[-1]["sub"] == user


def test_a_refused_assertion_is_permanent_and_names_the_secret(google):
    api, key = google
    api.public_key = new_key("RS256")[1]  # the key was deleted from the service account
    auth = {"type": "jwt_bearer", "secret": "ga4-sa", "scope": GA_SCOPE}
    with pytest.raises(AuthError) as caught:
        extract(entity(api.url, auth), auth, key)
    message = str(caught.value)
    assert "secret 'ga4-sa'" in message and "invalid_grant" in message and "(HTTP 400)" in message
    assert key["private_key"] not in message and not is_retryable(caught.value)


@pytest.fixture
def app_store(serve):
    pem, public = new_key("ES256")
    secret = {"private_key": pem, "key_id": "2X9R4HXF34", "issuer_id": "57246542-96fe-1a63-e053-0824d011072a"}
    api = AppStoreConnectApi(public, secret["key_id"], secret["issuer_id"])
    auth = {"type": "jwt", "secret": "app-store-connect", "audience": "appstoreconnect-v1"}
    config = entity(serve(api, "ASC_URL"), auth, request={"path": "/v1/apps", "params": {"limit": 2}},
                    pagination={"type": "next_url", "next_url_path": "links.next"})
    return api, secret, auth, config


def test_jwt_app_store_connect_signs_its_own_bearer_and_renews_it(app_store):
    api, secret, auth, config = app_store
    assert [r["id"] for p in extract(config, auth, secret) for r in p.records] == [
        "1000", "1001", "1002", "1003", "1004"]
    (claims,) = api.tokens_seen.values()  # one token for the whole walk
    assert claims["exp"] - claims["iat"] == 1200 and set(claims) == {"iss", "iat", "exp", "aud"}

    (key, token), = CachedToken._cache.items()  # renewed a minute before it expires
    assert token.renew_at == pytest.approx(claims["iat"] + 1140, abs=2)
    CachedToken._cache[key] = type(token)(token.value, 0)
    extract(config, auth, secret)
    assert len(api.tokens_seen) == 2

    api.revoke()  # a 401: a new token, and the request again
    assert len(ids(extract(config, auth, secret))) == 5 and len(api.tokens_seen) == 3


def test_a_key_that_does_not_fit_the_algorithm_fails_before_any_call(app_store):
    api, secret, auth, config = app_store
    for pem, problem in [(new_key("RS256")[0], "is not an EC P-256 key"),
                         ("not a key", "is not an unencrypted PEM private key")]:
        with pytest.raises(ConfigError, match=problem) as caught:
            extract(config, auth, {**secret, "private_key": pem})
        assert "field 'private_key' of secret 'app-store-connect'" in str(caught.value)
    assert api.requests == []


def test_google_adc_with_headers_from_a_secret(google, tmp_path, monkeypatch):
    """Google Ads' shape: the identity from ADC, a developer token and a manager id from a secret."""
    api, key = google
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", write_key_file(tmp_path / "adc.json", key))
    auth = {"type": "google", "scope": "https://www.googleapis.com/auth/adwords", "secret": "google-ads",
            "quota_project": "acme-billing",
            "secret_headers": {"developer-token": "developer_token",
                               "login-customer-id": "login_customer_id"}}
    secret = {"developer_token": fake_credential("devtoken"), "login_customer_id": 1234567890}
    for _ in range(2):
        assert ids(extract(entity(api.url, auth), auth, secret)) == [1, 2, 3]
    assert len(api.assertions) == 1  # google-auth's own assertion, checked like Google does
    assert api.assertions[0]["scope"] == "https://www.googleapis.com/auth/adwords"
    sent = api.calls("/items")[-1].headers
    assert sent["developer-token"] == secret["developer_token"]
    assert sent["login-customer-id"] == "1234567890" and sent["x-goog-user-project"] == "acme-billing"
    assert redact(f"{secret['developer_token']} 1234567890") == f"{MASK} {MASK}"


def test_google_with_a_key_in_the_secret_and_domain_wide_delegation(google):
    api, key = google
    api.subject = "analyst@acme.example"
    auth = {"type": "google", "scope": GA_SCOPE, "secret": "ga4-sa", "subject": "analyst@acme.example"}
    assert ids(extract(entity(api.url, auth), auth, key)) == [1, 2, 3]
    api.expire_tokens()
    assert ids(extract(entity(api.url, auth), auth, key)) == [1, 2, 3]
    assert [c["sub"] for c in api.assertions] == ["analyst@acme.example"] * 2


def test_google_refusing_the_key_is_permanent(google, tmp_path, monkeypatch):
    api, key = google
    api.kid = "a-deleted-key"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", write_key_file(tmp_path / "adc.json", key))
    auth = {"type": "google", "scope": GA_SCOPE}
    with pytest.raises(AuthError, match=r"Application Default Credentials.*invalid_grant") as caught:
        extract(entity(api.url, auth), auth, {})
    assert not is_retryable(caught.value) and api.calls("/items") == []


def test_secret_headers_on_a_static_type_and_a_missing_field(serve):
    provider = OAuthProvider("cid", fake_credential("cs"))
    api = ProtectedApi(provider)
    url = serve(api, "ACME_URL")
    auth = {"type": "oauth2_client_credentials", "secret": "acme", "token_url": "/token",
            "secret_headers": {"X-Tenant-Key": "tenant_key"}}
    secret = {"client_id": "cid", "client_secret": provider.client_secret,
              "tenant_key": fake_credential("tk")}
    config = entity(url, auth, pagination={"type": "single"})
    assert ids(extract(config, auth, secret)) == [1]
    provider.expire_access_tokens()  # the shared token cache still renews after a 401
    assert ids(extract(config, auth, secret)) == [1]
    assert provider.grants == ["client_credentials"] * 2
    assert {r.headers.get("X-Tenant-Key") for r in api.calls("/items")} == {secret["tenant_key"]}

    with pytest.raises(ConfigError, match=r"secret 'acme' has no field 'tenant_key'"):
        build(auth, {k: v for k, v in secret.items() if k != "tenant_key"}, url)


def test_the_documented_examples_are_valid():
    for auth in [
        {"type": "jwt_bearer", "secret": "ga4-sa", "scope": GA_SCOPE},
        {"type": "jwt", "secret": "app-store-connect", "audience": "appstoreconnect-v1"},
        {"type": "google", "scope": GA_SCOPE},
        {"type": "bearer", "secret": "x", "secret_headers": {"developer-token": "developer_token"}},
    ]:
        assert schema_errors("resolved", deep_merge(MINIMAL, {"auth": auth})) == []
    headers_without_secret = {"type": "google", "scope": GA_SCOPE, "secret_headers": {"a": "b"}}
    assert schema_errors("resolved", deep_merge(MINIMAL, {"auth": headers_without_secret}))
    too_long = {"type": "jwt_bearer", "secret": "s", "lifetime_seconds": 7200}
    assert schema_errors("resolved", deep_merge(MINIMAL, {"auth": too_long}))


def test_a_google_key_in_a_secret_registers_its_credentials_not_its_public_fields(monkeypatch):
    from ingestion.source import credentials

    key = service_account_key("https://oauth2.googleapis.com/token", new_key("RS256")[0])
    monkeypatch.setattr(credentials.secret_manager_helper, "access_secret_version",
                        lambda project, secret: (json.dumps(key), "projects/p/secrets/s/versions/1"))
    assert credentials.load_secret("p", "ga4-sa")[0] == key
    assert redact(key["private_key_id"]) == MASK
    assert redact("https://oauth2.googleapis.com/token service_account") == \
        "https://oauth2.googleapis.com/token service_account"
