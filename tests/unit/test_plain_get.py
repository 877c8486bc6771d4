"""A plain page GET skips requests' per-request preparation (utils/requests_api.py `plain_get`):
it must send exactly what requests would, and the session must behave as with requests — cookies
kept, redirects followed — on a real server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import requests
from werkzeug.wrappers import Request, Response

from local.stack import serve_in_thread
from utils import requests_api


@Request.application
def app(request: Request) -> Response:
    if request.path == "/old":
        return Response("", status=302, headers={"Location": "/v1/items?page=9"})
    if request.path == "/login-cookie":
        response = Response("{}", content_type="application/json")
        response.set_cookie("sid", "abc123")
        return response
    return Response(json.dumps({"path": request.full_path, "cookie": request.headers.get("Cookie"),
                                "key": request.headers.get("X-Api-Key"),
                                "agent": request.headers.get("User-Agent")}),
                    content_type="application/json")


@pytest.fixture
def server():
    served = serve_in_thread(app)
    yield served
    served.stop()


SHAPES = [  # (url, params, headers): what pages look like
    ("http://127.0.0.1:8080/v1/items", {"page": 2, "per_page": 100}, {"X-API-Key": "k"}),
    ("http://127.0.0.1:8080/v1/items?fixed=1", {"cursor": "a b/c+d=e&f", "none": None}, None),
    ("https://api.example.com/v2/orders.json", {"updated_at_min": "2026-01-01T00:00:00+00:00",
                                                "limit": 250, "ratio": 0.5, "flag": True}, None),
    ("https://api.example.com/x/@me/items;v=1", {"q": "ünïcode ✓"}, {"Accept": None, "X-A": "1"}),
    ("https://api.example.com/items", {}, {"Authorization": "Bearer t"}),
    ("https://api.example.com/items?page=2", None, {"user-agent": "ours"}),
]


@pytest.mark.parametrize(("url", "params", "headers"), SHAPES)
def test_a_plain_get_is_the_request_requests_would_prepare(url, params, headers):
    session = requests_api.new_session()
    settings, netrc = requests_api.environment(session, url)
    ours = requests_api.plain_get(session, "GET", url, params, headers, settings, netrc)
    theirs = session.prepare_request(requests.Request("GET", url, params=params or {}, headers=headers))
    assert ours is not None
    assert (ours.method, ours.url, dict(ours.headers), ours.body) == \
        (theirs.method, theirs.url, dict(theirs.headers), theirs.body)


@pytest.mark.parametrize(("url", "params"), [
    ("http://API.example.com/items", None),  # requests lower-cases the host
    ("http://api.example.com/a/../items", None),  # and removes dot segments
    ("http://api.example.com/items?q=%7E", None),  # and unquotes unreserved escapes
    ("http://api.example.com/it ems", None),
    ("http://user:pw@api.example.com/items", None),  # credentials in the URL: Basic auth
    ("http://api.example.com/items#top", None),
    ("http://api.example.com/items?", {"page": 1}),
    ("http://api.example.com", None),
    ("http://api.example.com/items", {"ids": [1, 2]}),  # a list repeats the parameter
])
def test_anything_requests_would_change_goes_through_requests(url, params):
    session = requests_api.new_session()
    settings, netrc = requests_api.environment(session, url)
    assert requests_api.plain_get(session, "GET", url, params, None, settings, netrc) is None


def test_a_session_with_cookies_auth_or_hooks_goes_through_requests():
    url = "http://api.example.com/items"
    for change in (lambda s: s.cookies.set("sid", "1"), lambda s: setattr(s, "auth", ("u", "p")),
                   lambda s: s.hooks["response"].append(lambda r, **kw: r)):
        session = requests_api.new_session()
        change(session)
        settings, netrc = requests_api.environment(session, url)
        assert requests_api.plain_get(session, "GET", url, None, None, settings, netrc) is None


def test_a_cookie_an_api_sets_is_sent_back_and_headers_arrive(server):
    session = requests_api.new_session(max_retries=0)
    requests_api.send(session, "GET", server.url + "/login-cookie")
    page = requests_api.send(session, "GET", server.url + "/v1/items", params={"page": 2},
                             headers={"X-API-Key": "k"}).json()
    assert page["cookie"] == "sid=abc123" and page["key"] == "k"
    assert page["path"] == "/v1/items?page=2" and page["agent"].startswith("python-requests/")


def test_a_redirect_is_followed_as_requests_follows_it(server):
    session = requests_api.new_session(max_retries=0)
    resp = requests_api.send(session, "GET", server.url + "/old", params={"page": 1})
    assert resp.json()["path"] == "/v1/items?page=9"
    assert [r.status_code for r in resp.history] == [302]
    assert resp.url == server.url + "/v1/items?page=9"
