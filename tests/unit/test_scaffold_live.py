"""`scaffold <entity> <url>` reads a live API the way a person would: APIs of the common paging
styles, served on 127.0.0.1, are scaffolded from their first page, and the proposed config then
walks every page of them through the production fetcher."""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import load_entity
from ingestion.ops.cli import main as cli
from ingestion.rows.build import RowBuilder
from tests.support.apis.paging_styles import (
    THINGS,
    github,
    gitlab,
    graph,
    hubspot,
    jira,
    json_server,
    next_cursor_header,
    page_at,
    reply,
    stripe,
)
from tests.support.extraction import extract

STYLES = [
    (github, "/repos/acme/app/issues?per_page=2&state=all&since=2026-01-01T00:00:00Z",
     {"type": "link_header"}, 'review: pagination: {"type": "link_header"} (from the Link header)'),
    (stripe, "/v1/things?limit=2",
     {"type": "cursor", "last_record_path": "id", "cursor_param": "starting_after", "size_param": "limit",
      "page_size": 2, "has_more_path": "has_more"},
     "(from has_more in the response; id in every record; limit in the URL; the parameter name "
     "starting_after: a guess, check it)"),
    (jira, "/rest/api/3/search?maxResults=2",
     {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "page_size": 2,
      "total_count_path": "total"},
     "(from startAt and total in the response; maxResults in the URL)"),
    (graph, "/v1.0/things", {"type": "next_url", "next_url_path": "['@odata.nextLink']"},
     "(from ['@odata.nextLink'] in the response)"),
    (hubspot, "/crm/v3/objects/things?limit=2",
     {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after", "size_param": "limit",
      "page_size": 2}, "(from paging.next.after in the response; limit in the URL; "
      "the parameter name after: a guess, check it)"),
    (gitlab, "/api/v4/projects/7/issues?per_page=2",
     {"type": "cursor", "cursor_header": "X-Next-Page", "cursor_param": "page", "size_param": "per_page",
      "page_size": 2}, "(from the X-Next-Page header; per_page in the URL; "
      "the parameter name page: a guess, check it)"),
    (json_server, "/things?_page=1&_limit=2",
     {"type": "page_number", "page_param": "_page", "size_param": "_limit", "page_size": 2,
      "total_count_header": "X-Total-Count"}, "(from the X-Total-Count header; _page and _limit in the URL)"),
    (next_cursor_header, "/events",
     {"type": "cursor", "cursor_header": "X-Next-Cursor", "cursor_param": "cursor"},
     "(from the X-Next-Cursor header; the parameter name cursor: a guess, check it)"),
]


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INGEST_SCHEMA_DIR", str(tmp_path / "schema"))
    return tmp_path / "config", tmp_path / "schema"


def scaffolded(dirs, name: str = "acme/things"):
    return load_entity(name, *dirs)


@pytest.mark.parametrize(("api", "url", "pagination", "review"), STYLES, ids=[s[0].__name__ for s in STYLES])
def test_a_paging_style_is_recognised_and_the_proposal_reads_every_page(
        httpserver, dirs, capsys, api, url, pagination, review):
    httpserver.expect_request(url.split("?")[0]).respond_with_handler(api)

    assert cli(["scaffold", "acme/things", httpserver.url_for(url)]) == 0

    out = capsys.readouterr().out
    config = json.loads((dirs[0] / "acme/things.json").read_text())
    assert config["pagination"] == pagination
    assert review in out
    pages = extract(scaffolded(dirs))
    assert [r["id"] for p in pages for r in p.records] == [t["id"] for t in THINGS]


def test_the_url_shows_the_date_filter_and_the_parameters_to_keep(httpserver, dirs, capsys):
    httpserver.expect_request("/repos/acme/app/issues").respond_with_handler(github)

    url = "/repos/acme/app/issues?per_page=2&state=all&updated_since=2026-01-01&updated_until=2026-02-01"
    assert cli(["scaffold", "acme/things", httpserver.url_for(url)]) == 0

    config = json.loads((dirs[0] / "acme/things.json").read_text())
    assert config["date_filter"] == {"start_param": "updated_since", "end_param": "updated_until",
                                     "format": "iso_date"}
    assert config["request"]["params"] == {"per_page": "2", "state": "all"}
    assert config["cursor_field"] == "updated_at" and config["merge_keys"] == ["id"]
    assert ('review: date_filter: {"start_param": "updated_since", "end_param": "updated_until", '
            '"format": "iso_date"} (from updated_since and updated_until in the URL)') in \
        capsys.readouterr().out
    date_filter = scaffolded(dirs).date_filter
    assert (date_filter.start_param, date_filter.end_param) == ("updated_since", "updated_until")


def test_a_graphql_query_posted_with_data_is_paged_by_its_page_info(httpserver, dirs, capsys):
    """Shopify-style: edges of nodes, `pageInfo`, the cursor and the page size as variables."""
    def shop(request: Request) -> Response:
        variables = request.get_json()["variables"]
        assert variables["q"] == "status:any"
        rows, following = page_at(int(variables.get("cursor") or 0), variables["count"])
        connection = {"edges": [{"cursor": str(r["id"]), "node": r} for r in rows],
                      "pageInfo": {"hasNextPage": following is not None, "endCursor": str(following or "")}}
        return reply({"data": {"orders": connection}, "extensions": {"cost": {"requestedQueryCost": 4}}})

    httpserver.expect_request("/admin/api/2024-10/graphql.json", method="POST").respond_with_handler(shop)
    query = ("query($count: Int!, $cursor: String, $q: String) {"
             " orders(first: $count, after: $cursor, query: $q) {"
             " edges { cursor node { id name updated_at } } pageInfo { hasNextPage endCursor } } }")
    data = json.dumps({"query": query, "variables": {"count": 2, "q": "status:any"}})

    assert cli(["scaffold", "acme/things", httpserver.url_for("/admin/api/2024-10/graphql.json"),
                "--data", data]) == 0

    config = json.loads((dirs[0] / "acme/things.json").read_text())
    assert config["pagination"] == {"type": "graphql", "page_info_path": "data.orders.pageInfo",
                                    "cursor_variable": "cursor", "size_variable": "count", "page_size": 2}
    assert config["records"] == {"path": "data.orders.edges[*].node"}
    assert config["request"]["method"] == "POST"
    assert config["request"]["body"] == {"query": query, "variables": {"q": "status:any"}}
    pages = extract(scaffolded(dirs))
    assert [r["id"] for p in pages for r in p.records] == [t["id"] for t in THINGS]


def test_keys_with_dots_and_spaces_are_quoted_and_read_back(httpserver, dirs, capsys):
    """Keys BigQuery cannot name become columns mapped by quoted paths; the rows hold their values."""
    record = {"id": 1, "a.b": 7, "Begin Date": "2026-03-01", "@odata.etag": "W/1", "_deleted": False}
    httpserver.expect_request("/report").respond_with_json({"value": [record]})

    assert cli(["scaffold", "acme/things", httpserver.url_for("/report")]) == 0

    config = json.loads((dirs[0] / "acme/things.json").read_text())
    assert config["records"]["fields"] == {"a_b": "['a.b']", "Begin_Date": "['Begin Date']",
                                           "_odata_etag": "['@odata.etag']", "_deleted_": "_deleted"}
    row = RowBuilder.for_entity(scaffolded(dirs)).for_page({})(record)
    assert {k: row[k] for k in ("id", "a_b", "Begin_Date", "_odata_etag", "_deleted_")} == \
        {"id": 1, "a_b": 7, "Begin_Date": "2026-03-01", "_odata_etag": "W/1", "_deleted_": False}


def test_an_answer_that_is_not_json_or_not_ok_is_named_and_nothing_is_written(httpserver, dirs, capsys):
    httpserver.expect_request("/html").respond_with_data("<html>sign in</html>", content_type="text/html")
    httpserver.expect_request("/gone").respond_with_data("no", status=404)

    assert cli(["scaffold", "acme/things", httpserver.url_for("/html")]) == 2
    assert cli(["scaffold", "acme/things", httpserver.url_for("/gone")]) == 2

    err = capsys.readouterr().err
    assert f"ERROR acme/things: {httpserver.url_for('/html')} did not answer JSON (text/html" in err
    assert f"ERROR acme/things: GET {httpserver.url_for('/gone')} answered HTTP 404" in err
    assert not dirs[0].exists() and not dirs[1].exists()
