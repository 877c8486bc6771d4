"""Our HTTP sessions read the environment once per origin (utils/requests_api.py `environment`),
not on every request, and still honour it as requests would: a proxy from HTTP_PROXY and
credentials from a netrc file."""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from local.stack import serve_in_thread
from utils import requests_api


@Request.application
def echo(request: Request) -> Response:
    """What reached the server: the host the request was for, and its credentials."""
    return Response(json.dumps({"host": request.host, "authorization": request.headers.get("Authorization")}),
                    content_type="application/json")


@pytest.fixture
def server():
    served = serve_in_thread(echo)
    yield served
    served.stop()


def test_a_proxy_from_the_environment_carries_every_request(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the echo server plays the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = requests_api.new_session(max_retries=0)
    for page in (1, 2):  # the second request uses the settings read for the first
        resp = requests_api.send(session, "GET", "http://api.example.invalid/v1/items", params={"page": page})
        assert resp.json()["host"] == "api.example.invalid"  # sent through the proxy, never resolved


def test_netrc_credentials_are_sent_to_their_host(server, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = requests_api.new_session(max_retries=0)
    resp = requests_api.send(session, "GET", server.url + "/v1/items")
    assert resp.json()["authorization"] == "Basic dXNlcjpzZWNyZXQ="
