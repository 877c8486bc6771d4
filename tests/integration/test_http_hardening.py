"""Two ways a run used to fail for nothing, each against real HTTP servers on 127.0.0.1 and a whole
sync: a static credential rotated mid-run (a 401 re-reads the secret's latest version), and a
connection cut while a body is read (retried inside the run, within the session's retry budget)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.payload import SyncRequest
from ingestion.run.decide import is_retryable
from ingestion.run.pipeline import run_sync
from ingestion.source.auth import make_authenticator
from ingestion.source.fetch import open_session
from ingestion.source.httprequest import HttpRequest
from ingestion.warehouse.ledger import runs_table_id
from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.flaky import CuttingServer
from tests.support.configs import entity_config
from tests.support.delivery import deliver, store_secret
from utils import bq_helper
from utils.requests_api import TransportError

ENTITY = "harden/items"
SCHEMA = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "updated_at", "type": "TIMESTAMP"}]
ITEMS = [{"id": i, "updated_at": f"2026-03-0{1 + i % 9}T10:00:00Z"} for i in range(1, 61)]
PER_PAGE = 20


def write_entity(env, auth: dict | None = None, http: dict | None = None) -> str:
    """The test entity, reading ${HARDEN_API_URL}; returns its dataset."""
    dataset = f"harden_{env.suffix}"
    env.write(ENTITY, {
        "base_url": "${HARDEN_API_URL}", "start_date": "2026-01-01", "auth": auth or {"type": "none"},
        "http": {"max_retries": 2, "backoff_factor": 0, **(http or {})},
        "request": {"path": "/items"}, "records": {"path": "data"},
        "pagination": {"type": "page_number", "page_param": "page", "total_pages_path": "pages"},
        "cursor_field": "updated_at", "merge_keys": ["id"],
        "target": {"dataset": dataset, "table": "items"}}, SCHEMA)
    return dataset


def loaded_ids(env, dataset: str) -> list[int]:
    rows = bq_helper.query(f"SELECT id FROM `{env.settings.project}.{dataset}.items` ORDER BY id")
    return [r.id for r in rows.result()]


def run_rows(env) -> list[dict]:
    rows = bq_helper.query(f"SELECT * FROM `{runs_table_id(env.settings)}` ORDER BY started_at")
    return [dict(r.items()) for r in rows.result()]


# --- a 401 on static credentials: re-read the secret's latest version, one more try -------------

class GuardedApi(SimApi):
    """Pages of ITEMS for requests whose `header` is in `accepted`; 401 for anything else.
    `after_page(n)` runs once page n has been served (to rotate the credential mid-run)."""

    def __init__(self, header: str, accepted: set[str], after_page=lambda page: None):
        super().__init__()
        self.header, self.accepted, self.after_page = header, accepted, after_page

    def route(self, request: Request) -> Response:
        if request.headers.get(self.header) not in self.accepted:
            return json_response({"error": "invalid credentials"}, 401)
        page = int(request.args["page"])
        body = {"data": ITEMS[(page - 1) * PER_PAGE: page * PER_PAGE], "pages": len(ITEMS) // PER_PAGE}
        self.after_page(page)
        return json_response(body)

    def seen(self) -> list[str | None]:
        return [r.headers.get(self.header) for r in self.requests]


def test_an_api_key_rotated_mid_run_is_re_read_and_the_run_completes(env, serve):
    secret = f"harden-{env.suffix}"
    old, new = fake_credential("old-key"), fake_credential("new-key")
    store_secret(env.settings.project, secret, {"api_key": old})

    def rotate(page: int) -> None:  # an operator stores a new key; the API drops the old one
        if page == 1:
            store_secret(env.settings.project, secret, {"api_key": new})
            api.accepted = {new}

    api = GuardedApi("X-Api-Key", {old}, rotate)
    serve(api, "HARDEN_API_URL")
    dataset = write_entity(env, {"type": "api_key", "name": "X-Api-Key", "secret": secret})

    run_sync(SyncRequest(ENTITY, "incremental"), env.settings, now=NOW)

    assert loaded_ids(env, dataset) == [item["id"] for item in ITEMS]
    [run] = run_rows(env)
    assert run["status"] == "succeeded" and run["records"] == len(ITEMS)
    assert api.seen() == [old, old, new, new]  # page 2 refused with the old key, then the new one


KEY, TOKEN = fake_credential("key"), fake_credential("token")
USER, PASSWORD = fake_credential("user"), fake_credential("password")
STATIC = {  # auth type: (spec, secret, the header the API reads, its value)
    "api_key": ({"type": "api_key", "name": "X-Api-Key"}, {"api_key": KEY}, "X-Api-Key", KEY),
    "bearer": ({"type": "bearer"}, {"token": TOKEN}, "Authorization", f"Bearer {TOKEN}"),
    "basic": ({"type": "basic"}, {"username": USER, "password": PASSWORD}, "Authorization",
              "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()),
}


@pytest.mark.parametrize("auth_type", sorted(STATIC))
def test_credentials_refused_again_after_re_reading_fail_the_run_permanently(
        env, serve, function_client, auth_type):
    spec, value, header, sent = STATIC[auth_type]
    secret = f"harden-{auth_type.replace('_', '-')}-{env.suffix}"
    store_secret(env.settings.project, secret, value)
    api = GuardedApi(header, accepted=set())
    serve(api, "HARDEN_API_URL")
    dataset = write_entity(env, {**spec, "secret": secret})

    response = deliver(function_client, {"entity": ENTITY})

    assert response.status_code == 200  # acknowledged: a redelivery would be refused the same way
    assert api.seen() == [sent, sent]  # one more try after re-reading the secret, no third
    [run] = run_rows(env)
    assert (run["status"], run["error_class"]) == ("failed", "AuthError")
    message = run["error_message"]
    assert f"refused the credentials of secret '{secret}' even after re-reading its latest version" in message
    assert "HTTP 401" in message
    assert not [v for v in (*value.values(), sent) if v in message]
    assert loaded_ids(env, dataset) == []


# --- a connection cut while the body is read: retried within the run ------------------------------

BODY = json.dumps({"data": ITEMS, "pages": 1}).encode()


@pytest.fixture
def cutting(monkeypatch):
    """cutting(cuts, packed=False, body=BODY): a CuttingServer, at ${HARDEN_API_URL}."""
    started = []

    def start(cuts: list[str], packed: bool = False, body: bytes = BODY) -> CuttingServer:
        started.append(CuttingServer(body, cuts, packed))
        monkeypatch.setenv("HARDEN_API_URL", started[-1].url)
        return started[-1]

    yield start
    for server in started:
        server.stop()


CUTS = ["short_length", "chunk_cut", "gzip_cut", "stall"]  # see tests/support/apis/flaky.py


def http_for(cut: str) -> dict:
    """A stalled body is cut by the read timeout (the server stays silent 3 s)."""
    return {"read_timeout_seconds": 1} if cut == "stall" else {}


@pytest.mark.parametrize("cut", CUTS)
def test_a_body_cut_off_is_fetched_again_within_the_run(env, cutting, cut):
    server = cutting([cut, cut], packed=cut == "gzip_cut")  # two cut answers, then a whole one
    dataset = write_entity(env, http=http_for(cut))

    run = run_sync(SyncRequest(ENTITY, "incremental"), env.settings, now=NOW)

    assert run.status == "succeeded" and run.pages == 1 and run.records == len(ITEMS)
    assert loaded_ids(env, dataset) == [item["id"] for item in ITEMS]
    assert len(server.requests) == 3  # max_retries is 2


@pytest.mark.parametrize("cut", CUTS)
def test_a_body_that_keeps_breaking_is_redelivered_after_the_retries(env, cutting, function_client, cut):
    server = cutting([cut] * 10, packed=cut == "gzip_cut")
    write_entity(env, http=http_for(cut))

    response = deliver(function_client, {"entity": ENTITY})

    assert response.status_code == 500  # not acknowledged: Pub/Sub redelivers the message
    assert len(server.requests) == 3  # the first try + max_retries, not one more
    [run] = run_rows(env)
    assert (run["status"], run["error_class"]) == ("failed", "TransportError")
    assert "reading the body from http://127.0.0.1" in run["error_message"]


def test_header_and_body_retries_of_a_request_share_one_budget(env, cutting):
    server = cutting(["503", "short_length", "short_length", "short_length"])
    write_entity(env)

    with pytest.raises(TransportError) as error:
        run_sync(SyncRequest(ENTITY, "incremental"), env.settings, now=NOW)

    assert is_retryable(error.value)
    assert len(server.requests) == 3  # a 503 and two cut bodies: max_retries=2 spent in all


def test_an_oauth_token_response_cut_off_is_fetched_again(stack, cutting):
    token = fake_credential("access")
    server = cutting(["chunk_cut"], body=json.dumps({"access_token": token, "expires_in": 3600}).encode())
    secret = f"harden-oauth-{uuid.uuid4().hex[:10]}"
    store_secret(stack.project, secret, {"client_id": "cid", "client_secret": fake_credential("client")})
    spec = {"type": "oauth2_client_credentials", "secret": secret, "token_url": "/token"}
    request = HttpRequest("GET", f"{server.url}/items")

    entity = entity_config({"base_url": server.url, "auth": spec,
                            "http": {"max_retries": 2, "backoff_factor": 0}})
    with open_session(entity.http) as session:
        make_authenticator(entity.auth, stack.project, session, server.url).apply(request)

    assert request.headers["Authorization"] == f"Bearer {token}"
    assert server.requests == ["POST /token HTTP/1.1"] * 2
