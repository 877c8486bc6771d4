"""OAuth2 against a local token endpoint, with the secret in the Secret Manager stand-in."""

from __future__ import annotations

import json

import pytest

from ingestion.contract.errors import AuthError
from ingestion.run.decide import is_retryable
from ingestion.source.auth import make_authenticator
from ingestion.source.fetch import Fetcher, open_session
from ingestion.source.httprequest import HttpRequest
from tests.support.apis import OAuthProvider, ProtectedApi, fake_credential
from tests.support.configs import entity_config
from tests.support.delivery import store_secret
from utils import secret_manager_helper

RECORDS = {"path": "data"}
CLIENT_SECRET = fake_credential("client")


def fetch_once(base_url: str, auth_spec: dict, project: str) -> list:
    entity = entity_config({"base_url": base_url, "auth": auth_spec, "http": {"max_retries": 0},
                            "records": RECORDS})
    with open_session(entity.http) as session:
        auth = make_authenticator(entity.auth, project, session, base_url)
        fetcher = Fetcher("oauth-test", entity.http, entity.records, session, auth)
        return fetcher.page(HttpRequest("GET", base_url + "/items")).records


@pytest.fixture
def secret_name(request) -> str:
    return "oauth-" + request.node.name.replace("_", "-")[:60]


def test_client_credentials_token_is_reused_and_renewed_after_a_401(stack, serve, secret_name):
    api = ProtectedApi(OAuthProvider("cid", CLIENT_SECRET))
    url = serve(api, "OAUTH_TEST_URL")
    store_secret(stack.project, secret_name, {"client_id": "cid", "client_secret": CLIENT_SECRET})
    spec = {"type": "oauth2_client_credentials", "secret": secret_name, "token_url": "/token"}

    assert fetch_once(url, spec, stack.project) == [{"id": 1}]
    assert fetch_once(url, spec, stack.project) == [{"id": 1}]
    assert api.oauth.grants == ["client_credentials"]  # cached until it nears expiry

    api.oauth.expire_access_tokens()  # revoked server-side: the API answers 401 once
    assert fetch_once(url, spec, stack.project) == [{"id": 1}]
    assert api.oauth.grants == ["client_credentials", "client_credentials"]


def test_wrong_client_secret_is_a_permanent_error_without_the_secret_in_it(stack, serve, secret_name):
    url = serve(ProtectedApi(OAuthProvider("cid", CLIENT_SECRET)), "OAUTH_TEST_URL")
    wrong = fake_credential("wrong")
    store_secret(stack.project, secret_name, {"client_id": "cid", "client_secret": wrong})
    spec = {"type": "oauth2_client_credentials", "secret": secret_name, "token_url": "/token"}
    with pytest.raises(AuthError) as error:
        fetch_once(url, spec, stack.project)
    assert not is_retryable(error.value)
    assert "HTTP 401" in str(error.value) and "invalid_client" in str(error.value)
    assert wrong not in str(error.value)


def test_refresh_token_rotated_by_another_run_is_picked_up_from_secret_manager(stack, serve, secret_name):
    first = fake_credential("rt")
    provider = OAuthProvider("cid", CLIENT_SECRET, refresh_token=first)
    url = serve(ProtectedApi(provider), "OAUTH_TEST_URL")
    spec = {"type": "oauth2_refresh_token", "secret": secret_name, "token_url": "/token",
            "client_auth": "body"}
    store_secret(stack.project, secret_name, {"client_id": "cid", "client_secret": CLIENT_SECRET,
                                              "refresh_token": first})
    entity = entity_config({"base_url": url, "auth": spec, "records": RECORDS})
    with open_session(entity.http) as session:
        ours = make_authenticator(entity.auth, stack.project, session, url)  # reads the first token
        assert fetch_once(url, spec, stack.project) == [{"id": 1}]  # another run rotates it
        provider.expire_access_tokens()
        fetcher = Fetcher("oauth-test", entity.http, entity.records, session, ours)
        # ours is dead now; the provider's invalid_grant makes us re-read the secret and use the new one
        assert fetcher.page(HttpRequest("GET", url + "/items")).records == [{"id": 1}]
    stored = json.loads(secret_manager_helper.access_secret(stack.project, secret_name))
    assert stored["refresh_token"] in provider.refresh_tokens


def test_a_dead_refresh_token_asks_the_user_to_authorize_again(stack, serve, secret_name):
    revoked = fake_credential("rt-revoked")
    provider = OAuthProvider("cid", CLIENT_SECRET, refresh_token=fake_credential("rt-live"))
    url = serve(ProtectedApi(provider), "OAUTH_TEST_URL")
    store_secret(stack.project, secret_name, {"client_id": "cid", "client_secret": CLIENT_SECRET,
                                              "refresh_token": revoked})
    spec = {"type": "oauth2_refresh_token", "secret": secret_name, "token_url": "/token",
            "client_auth": "body"}
    with pytest.raises(AuthError) as error:
        fetch_once(url, spec, stack.project)
    assert not is_retryable(error.value)
    message = str(error.value)
    assert "invalid_grant" in message and f"store the new token set in secret '{secret_name}'" in message
    assert revoked not in str(error.value)
