"""Paths into JSON (ingestion/contract/jsonpath.py, docs/config.md#paths): the dotted spelling of old,
quoted keys, indexes and `[*]`; a malformed path refused when the config loads, naming the setting;
and the syntax at work against local servers: Microsoft Graph's `@odata.nextLink`, a JSON array of
result batches (Google Ads searchStream), keys with dots in `records.fields`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import load_entity
from ingestion.contract.errors import ConfigError
from ingestion.contract.jsonpath import PathNotFound, PathSyntaxError, compile_path, dig
from ingestion.rows.build import RowBuilder
from tests.support.apis import SimApi, json_response
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import extract

DOC = {
    "data": {"items": [{"id": 1}, {"id": 2}]},
    "@odata.nextLink": "https://graph/next",
    "a.b": {"c": 3},
    "it's": {"say \"hi\"": 4},
    "value": [{"id": 1, "tags": ["x", "y"]}, {"id": 2, "tags": None}, {"other": 3}],
    "by_id": {"k1": {"n": 1}, "k2": {"n": 2}},
    "0": "zero",
    "nothing": None,
}


@pytest.mark.parametrize(("path", "expected"), [
    ("", DOC),
    ("data.items", [{"id": 1}, {"id": 2}]),
    ("data.items.1.id", 2),  # a bare digit segment indexes a list...
    ("0", "zero"),  # ...and is a key of an object
    ("['@odata.nextLink']", "https://graph/next"),
    ('["@odata.nextLink"]', "https://graph/next"),
    ("['a.b'].c", 3),
    ("['it\\'s'][\"say \\\"hi\\\"\"]", 4),
    ("data.items[0].id", 1),
    ("data['items'][1]['id']", 2),
    ("value[*].id", [1, 2]),  # a missing key under [*] adds nothing
    ("value[*].tags", ["x", "y"]),  # a list adds its elements, a null nothing
    ("by_id[*].n", [1, 2]),  # [*] over an object: its values
    ("nothing[*].x", []),
    ("data.items[*]", [{"id": 1}, {"id": 2}]),
])
def test_paths_reach_keys_indexes_and_wildcards(path, expected):
    assert dig(DOC, path) == expected


def test_a_wildcard_over_batches_concatenates_them():
    batches = [{"results": [{"id": 1}, {"id": 2}]}, {"results": [{"id": 3}]}, {"summaryRow": {"n": 3}}]
    assert dig(batches, "[*].results") == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert dig(batches, "[*].results[*].id") == [1, 2, 3]
    assert dig([], "[*].results") == []


@pytest.mark.parametrize(("path", "stopped"), [
    ("data.nope", "key 'nope'"), ("data.items[5]", "index 5"), ("data.items.5", "'5'"),
    ("['a.b'].d", "key 'd'"), ("missing[*].id", "key 'missing'"), ("a.b", "key 'a'"),
    ("['@odata.nextLink'][*]", "[*] over str"), ("data[0]", "index 0"),
])
def test_what_is_not_there_is_not_found_unless_a_default_is_given(path, stopped):
    with pytest.raises(PathNotFound, match=re.escape(f"stopped at {stopped})")):
        dig(DOC, path)
    assert dig(DOC, path, "fallback") == "fallback"


@pytest.mark.parametrize(("path", "cause"), [
    ("value[*.id", "unclosed bracket at character 6"),
    ("value[0", "unclosed bracket"),
    ("['@odata.nextLink'", "unclosed bracket"),
    ("['@odata.nextLink]", "unclosed quote"),
    ("data..items", "an empty segment at character 6"),
    (".data", "an empty segment at character 1"),
    ("data.", "an empty segment"),
    ("Begin Date", "whitespace outside quotes"),
    ("data]", "']' without '['"),
    ("value[-1]", "a bracket holds a quoted key, a non-negative index or *"),
    ("value[id]", "a bracket holds"),
    ("value[*]id", "expected '.' or '['"),
])
def test_malformed_paths_say_where_and_why(path, cause):
    with pytest.raises(PathSyntaxError, match=re.escape(cause)):
        compile_path(path)


def test_a_path_is_compiled_once():
    assert compile_path("data.items") is compile_path("data.items")
    assert compile_path("['@x'].y").first_key == "@x" and compile_path("[*].y").first_key is None


# A malformed path is refused when the config loads, naming the setting -----------------------

def write_entity(tmp: Path, spec: dict) -> tuple[Path, Path]:
    for folder, doc in (("config", {**MINIMAL, **spec}), ("schema", [{"name": "id", "type": "INT64"}])):
        (tmp / folder / "acme").mkdir(parents=True, exist_ok=True)
        (tmp / folder / "acme" / "items.json").write_text(json.dumps(doc))
    return tmp / "config", tmp / "schema"


@pytest.mark.parametrize(("spec", "message"), [
    ({"records": {"path": "value[*.id"}}, r"records\.path: malformed path 'value\[\*\.id': unclosed bracket"),
    ({"records": {"path": "data", "fields": {"id": "['@odata.id"}}}, r"records\.fields\.id: .*unclosed"),
    ({"pagination": {"type": "next_url", "next_url_path": "['@odata.nextLink'"}},
     r"pagination\.next_url_path: malformed path"),
    ({"pagination": {"type": "next_url", "next_url_path": "links[*].next"}},
     r"pagination\.next_url_path: 'links\[\*\]\.next' has \[\*\], which gives a list"),
    ({"fan_out": {"column": "id", "from_endpoint": {"path": "/accounts", "value_path": "a b"}}},
     r"fan_out\.from_endpoint\.value_path: .*whitespace outside quotes"),
])
def test_a_malformed_path_is_a_config_error_naming_the_setting(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        load_entity("acme/items", *write_entity(tmp_path, spec))


def test_the_new_syntax_passes_the_schema_and_loads(tmp_path):
    entity = load_entity("acme/items", *write_entity(tmp_path, {
        "records": {"path": "[*].results", "fields": {"id": "['@odata.id']"}},
        "pagination": {"type": "next_url", "next_url_path": "['@odata.nextLink']"}}))
    assert entity.records.fields == {"id": "['@odata.id']"}


# Against local servers ----------------------------------------------------------------------------

class GraphApi(SimApi):
    """Microsoft Graph style: records in `value`, the next page's absolute URL in
    `@odata.nextLink` (a `$skiptoken`), `@odata.context` beside them; keys with dots in records."""

    def __init__(self, count: int = 5, size: int = 2):
        super().__init__()
        self.users = [{"id": i, "@odata.type": "#microsoft.graph.user", "displayName": f"U{i}"}
                      for i in range(1, count + 1)]
        self.size = size

    def route(self, request: Request) -> Response:
        skip = int(request.args.get("$skiptoken", 0))
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "value": self.users[skip:skip + self.size]}
        if skip + self.size < len(self.users):
            body["@odata.nextLink"] = f"{request.host_url}v1.0/users?$skiptoken={skip + self.size}"
        return json_response(body)


class SearchStreamApi(SimApi):
    """Google Ads searchStream: one JSON array of batches, each with `results` and a field mask;
    the last one, with summary rows asked for, holds only `summaryRow`."""

    def route(self, request: Request) -> Response:
        batches = [{"results": [{"campaign": {"id": str(i), "name": f"C{i}"}} for i in ids],
                    "fieldMask": "campaign.id,campaign.name", "requestId": "r1"}
                   for ids in ([1, 2], [3], [4, 5])]
        batches.append({"summaryRow": {"metrics": {"clicks": "9"}}, "requestId": "r1"})
        return json_response(batches)


def test_next_url_path_reaches_a_key_with_dots(serve):
    api = GraphApi()
    entity = entity_config({
        "base_url": serve(api, "GRAPH_URL"), "request": {"path": "/v1.0/users"},
        "records": {"path": "value", "fields": {"kind": "['@odata.type']"}},
        "pagination": {"type": "next_url", "next_url_path": "['@odata.nextLink']"}},
        fields=[{"name": "id", "type": "INT64"}, {"name": "kind", "type": "STRING"}])
    pages = extract(entity)
    assert [[r["id"] for r in p.records] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [r.args.get("$skiptoken") for r in api.requests] == [None, "2", "4"]
    row = RowBuilder.for_entity(entity).for_page({})
    assert row(pages[0].records[0])["kind"] == "#microsoft.graph.user"


def test_records_path_over_a_json_array_of_batches(serve):
    entity = entity_config({
        "base_url": serve(SearchStreamApi(), "ADS_URL"),
        "request": {"path": "/v17/customers/1/googleAds:searchStream", "method": "POST",
                    "body": {"query": "SELECT campaign.id, campaign.name FROM campaign"}},
        "records": {"path": "[*].results", "fields": {"id": "campaign.id", "name": "campaign.name"}}},
        fields=[{"name": "id", "type": "INT64"}, {"name": "name", "type": "STRING"}])
    [page] = extract(entity)
    row = RowBuilder.for_entity(entity).for_page({})
    assert [row(r)["id"] for r in page.records] == [1, 2, 3, 4, 5]
    assert [row(r)["name"] for r in page.records] == ["C1", "C2", "C3", "C4", "C5"]


def test_fields_reach_keys_with_dots_and_fill_repeated_columns_through_wildcards():
    entity = entity_config(
        {"records": {"path": "", "fields": {"id": "['order.id']", "skus": "lines[*].sku",
                                            "first": "lines[0]['item.name']"}}},
        fields=[{"name": "id", "type": "INT64"}, {"name": "skus", "type": "STRING", "mode": "REPEATED"},
                {"name": "first", "type": "STRING"}])
    builder = RowBuilder.for_entity(entity)
    record = {"order.id": "7", "lines": [{"sku": "a", "item.name": "A"}, {"sku": "b"}, {"qty": 1}],
              "extra": 1}
    out = builder.for_page({})(record)
    assert (out["id"], out["skus"], out["first"]) == (7, ["a", "b"], "A")
    assert builder.unknown_keys([record]) == {"extra"}
