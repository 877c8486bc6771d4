"""CSV, TSV and XML response formats, and rows described by headers (GA4, BigQuery), against a real
HTTP server on 127.0.0.1: records come out as text, and coercion types them like JSON strings."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from werkzeug.wrappers import Response

from ingestion.contract.config import cross_check
from ingestion.contract.errors import ApiError
from ingestion.contract.schema import schema_errors
from ingestion.rows.build import RowBuilder, page_rows
from ingestion.rows.stage import raw_suffix
from ingestion.run.decide import is_retryable
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import extract, make_entity

ATOM, MEDIA = "http://www.w3.org/2005/Atom", "http://search.yahoo.com/mrss/"


def records_of(pages) -> list:
    return [r for p in pages for r in p.records]


def rows_of(pages, entity) -> list[dict]:
    """The pages' records coerced to the schema, as staging does (no rejects allowed)."""
    builder, rows = RowBuilder.for_entity(entity), []
    for page in pages:
        page.run_id, page.source = "run-1", f"gs://bucket/raw/page-{page.number}"
        coerced, rejects, _ = page_rows(page, entity, builder, first_seq=len(rows))
        assert rejects == []
        rows += coerced
    return [{k: v for k, v in row.items() if not k.startswith("_") and v is not None} for row in rows]


def test_csv_with_quoted_delimiters_quotes_and_newlines_pages_until_a_short_page(httpserver):
    pages = {
        1: 'id,name,updated_at,created_on\r\n'
           '1,"Smith, Jane","2026-03-01 10:00:00",2026-03-01\r\n'
           '2,"two\nlines, ""quoted""",1772359200,\r\n',
        2: '\ufeffid,name,updated_at,created_on\n3,plain,,2026-03-02\n\n',
    }
    for page, text in pages.items():
        httpserver.expect_ordered_request("/api/items", query_string={"page": str(page), "limit": "2"}) \
            .respond_with_data(text.encode(), content_type="text/csv; charset=utf-8")
    entity = make_entity(httpserver, records={"path": "", "format": "csv"})

    pages_ = extract(entity)

    assert records_of(pages_) == [
        {"id": "1", "name": "Smith, Jane", "updated_at": "2026-03-01 10:00:00", "created_on": "2026-03-01"},
        {"id": "2", "name": 'two\nlines, "quoted"', "updated_at": "1772359200", "created_on": ""},
        {"id": "3", "name": "plain", "updated_at": "", "created_on": "2026-03-02"},
    ]
    assert rows_of(pages_, entity)[:2] == [
        {"id": 1, "name": "Smith, Jane", "updated_at": "2026-03-01T10:00:00Z", "created_on": "2026-03-01"},
        {"id": 2, "name": 'two\nlines, "quoted"', "updated_at": "2026-03-01T10:00:00Z"},  # "": NULL
    ]
    assert len(httpserver.log) == 2


def test_gzip_tsv_served_as_application_a_gzip_without_content_encoding(httpserver):
    """App Store Connect's sales report: a gzip file, tab-separated, a `"` is just a character."""
    report = ("Provider\tSKU\tTitle\tUnits\tBegin Date\n"
              'APPLE\t7\tThe "Best" App\t12\t03/01/2026\n'
              "APPLE\t8\tOther\t-1\t03/01/2026\n")
    httpserver.expect_request("/api/items").respond_with_response(Response(
        gzip.compress(report.encode()), content_type="application/a-gzip"))
    entity = make_entity(httpserver, pagination={"type": "single"}, cursor_field=None, records={
        "path": "", "format": "tsv", "compression": "gzip",
        "column_names": ["provider", "id", "name", "units", "begin_date"]})

    pages = extract(entity)

    assert "Content-Encoding" not in httpserver.log[0][1].headers
    assert records_of(pages) == [
        {"provider": "APPLE", "id": "7", "name": 'The "Best" App', "units": "12", "begin_date": "03/01/2026"},
        {"provider": "APPLE", "id": "8", "name": "Other", "units": "-1", "begin_date": "03/01/2026"},
    ]
    assert [r["id"] for r in rows_of(pages, entity)] == [7, 8]
    assert raw_suffix(entity.records) == (".tsv.gz", "application/gzip")


def test_csv_without_a_header_row_and_with_another_delimiter(httpserver):
    httpserver.expect_request("/api/items").respond_with_data("5;'a;b'\n6;c\n")
    entity = make_entity(httpserver, pagination={"type": "single"}, records={
        "path": "", "format": "csv", "header": False, "column_names": ["id", "name"],
        "delimiter": ";", "quote_char": "'"})
    assert records_of(extract(entity)) == [{"id": "5", "name": "a;b"}, {"id": "6", "name": "c"}]


@pytest.mark.parametrize("text,error", [
    ("id,name\n1,a,extra\n", "line 2 has 3 values for 2 columns"),
    ("id,id\n1,2\n", r"names \['id'\] more than once"),
    ('id,name\n1,"never closed\n', "is not valid CSV"),
    (b"id\n\xff\n", "is not UTF-8 text"),
])
def test_malformed_csv_is_a_permanent_error_naming_the_cause(httpserver, text, error):
    httpserver.expect_request("/api/items").respond_with_data(text)
    entity = make_entity(httpserver, pagination={"type": "single"}, records={"path": "", "format": "csv"})
    with pytest.raises(ApiError, match=error) as caught:
        extract(entity)
    assert not is_retryable(caught.value)


def feed(page: int, pages: int, entries: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="{ATOM}" xmlns:media="{MEDIA}" '
            f'pages="{pages}">\n  <title>Items</title>\n  <page>{page}</page>\n{entries}</feed>\n')


ENTRY = """  <entry id="{id}">
    <title>Item {id}</title><media:title>Alt {id}</media:title>
    <updated>2026-03-0{id}T10:00:00Z</updated>
    <category term="a"/><category term="b"/>
    <tags><tag>x</tag><tag>y</tag></tags>
    <owner><id>{id}{id}</id></owner>
    <price currency="EUR">9.50</price>
    <note/>
  </entry>
"""


def test_xml_feed_with_namespaces_attributes_and_repeated_elements_pages_by_a_total(httpserver):
    for page, ids in ((1, (1, 2)), (2, (3,))):
        body = feed(page, 2, "".join(ENTRY.format(id=i) for i in ids))
        httpserver.expect_ordered_request("/api/items", query_string={"page": str(page), "limit": "2"}) \
            .respond_with_data(body, content_type="application/atom+xml")
    entity = make_entity(httpserver, pagination={"total_pages_path": "feed.@pages"}, records={
        "path": "feed.entry", "format": "xml", "namespaces": {"media": MEDIA},
        "fields": {"id": "@id", "name": "media:title", "updated_at": "updated", "tags": "tags.tag"}})

    pages = extract(entity)

    assert pages[0].response.body["feed"]["@pages"] == "2"
    assert [p.response.body["feed"]["page"] for p in pages] == ["1", "2"]
    assert records_of(pages)[0] == {
        "@id": "1", "title": "Item 1", "media:title": "Alt 1", "updated": "2026-03-01T10:00:00Z",
        "category": [{"@term": "a"}, {"@term": "b"}], "tags": {"tag": ["x", "y"]},
        "owner": {"id": "11"}, "price": {"@currency": "EUR", "#text": "9.50"}, "note": None}
    assert len(records_of(pages)) == 3  # page 2's one entry is one record
    assert rows_of(pages, entity) == [
        {"id": i, "name": f"Alt {i}", "updated_at": f"2026-03-0{i}T10:00:00Z", "tags": ["x", "y"],
         "owner": {"id": f"{i}{i}"}} for i in (1, 2, 3)]
    assert raw_suffix(entity.records) == (".xml", "application/xml")


def test_xml_names_are_local_unless_their_namespace_is_declared(httpserver):
    httpserver.expect_request("/api/items").respond_with_data(feed(1, 1, ENTRY.format(id=4)))
    entity = make_entity(httpserver, pagination={"type": "single"}, records={
        "path": "atom:feed.atom:entry", "format": "xml", "namespaces": {"atom": ATOM},
        "fields": {"id": "@id"}})
    record = records_of(extract(entity))[0]
    assert record["atom:title"] == "Item 4" and record["title"] == "Alt 4"  # media: undeclared


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feed><entry><id>1</id><name>&lol9;</name></entry></feed>
"""
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><feed>&x;</feed>'


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external"])
def test_xml_with_entity_declarations_is_refused_not_expanded(httpserver, document):
    httpserver.expect_request("/api/items").respond_with_data(document, content_type="application/xml")
    entity = make_entity(httpserver, pagination={"type": "single"},
                         records={"path": "feed.entry", "format": "xml"})
    started = time.monotonic()
    with pytest.raises(ApiError, match="is refused: XML that declares or references entities") as caught:
        extract(entity)
    assert time.monotonic() - started < 5 and not is_retryable(caught.value)
    assert "root:" not in str(caught.value)


def test_broken_xml_is_a_clear_error(httpserver):
    httpserver.expect_request("/api/items").respond_with_data("<feed><entry></feed>")
    entity = make_entity(httpserver, pagination={"type": "single"},
                         records={"path": "feed.entry", "format": "xml"})
    with pytest.raises(ApiError, match="is not valid XML: mismatched tag"):
        extract(entity)


GA4_COLUMNS = {"names": ["dimensionHeaders[*].name", "metricHeaders[*].name"],
               "values": ["dimensionValues[*].value", "metricValues[*].value"]}


def ga4_report(offset: int, limit: int) -> dict:
    """A runReport response (dimensions date and country, metric activeUsers) of 3 rows."""
    rows = [{"dimensionValues": [{"value": f"2026030{i}"}, {"value": "DE"}],
             "metricValues": [{"value": str(10 * i)}]} for i in (1, 2, 3)][offset:offset + limit]
    return {"dimensionHeaders": [{"name": "date"}, {"name": "country"}],
            "metricHeaders": [{"name": "activeUsers", "type": "TYPE_INTEGER"}],
            "rows": rows, "rowCount": 3, "metadata": {"currencyCode": "EUR"},
            "kind": "analyticsData#runReport"}


def test_ga4_run_report_rows_become_named_records_across_offset_pages(httpserver):
    def answer(request):
        query = request.get_json()
        return Response(json.dumps(ga4_report(query["offset"], query["limit"])),
                        content_type="application/json")

    httpserver.expect_request("/api/items", method="POST").respond_with_handler(answer)
    entity = make_entity(httpserver, request={"method": "POST", "body": {"dimensions": [{"name": "date"}]}},
                         cursor_field=None,
                         pagination={"type": "offset", "offset_param": "offset", "limit_param": "limit",
                                     "page_size": 2, "in": "body", "total_count_path": "rowCount"},
                         records={"path": "rows", "allow_missing": True, "columns": GA4_COLUMNS,
                                  "fields": {"id": "activeUsers", "created_on": "date",
                                             "name": "country"}})
    pages = extract(entity)

    assert records_of(pages) == [{"date": f"2026030{i}", "country": "DE", "activeUsers": str(10 * i)}
                                 for i in (1, 2, 3)]
    assert [(r["id"], r["created_on"]) for r in rows_of(pages, entity)] == [
        (10, "2026-03-01"), (20, "2026-03-02"), (30, "2026-03-03")]
    assert len(httpserver.log) == 2


def test_ga4_report_without_dimensions_and_an_empty_report(httpserver):
    """proto3 JSON leaves out empty lists: no dimensionHeaders, and no rows at all."""
    metrics_only = {"metricHeaders": [{"name": "activeUsers"}], "rows": [{"metricValues": [{"value": "7"}]}],
                    "rowCount": 1}
    httpserver.expect_ordered_request("/api/items").respond_with_json(metrics_only)
    httpserver.expect_ordered_request("/api/items").respond_with_json({"rowCount": 0, "kind": "x"})
    entity = make_entity(httpserver, pagination={"type": "single"},
                         records={"path": "rows", "allow_missing": True, "columns": GA4_COLUMNS})
    assert records_of(extract(entity)) == [{"activeUsers": "7"}]
    assert records_of(extract(entity)) == []


def bigquery_page(rows: list[list], token: str | None) -> dict:
    """A jobs.getQueryResults / tabledata.list page: values as text, `f`/`v` cells."""
    body = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True, "totalRows": "3",
            "schema": {"fields": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "STRING"},
                                  {"name": "created_on", "type": "DATE"}]},
            "rows": [{"f": [{"v": v} for v in row]} for row in rows]}
    return {**body, "pageToken": token} if token else body


def test_bigquery_schema_fields_rows_become_named_records_across_page_tokens(httpserver):
    httpserver.expect_ordered_request("/api/items", query_string={"maxResults": "2"}).respond_with_json(
        bigquery_page([["1", "a", "2026-03-01"], ["2", None, "2026-03-02"]], "tok-2"))
    httpserver.expect_ordered_request("/api/items", query_string={"maxResults": "2", "pageToken": "tok-2"}) \
        .respond_with_json(bigquery_page([["3", "c", None]], None))
    entity = make_entity(httpserver, cursor_field=None, pagination={
        "type": "cursor", "cursor_path": "pageToken", "cursor_param": "pageToken",
        "size_param": "maxResults", "page_size": 2}, records={
        "path": "rows", "allow_missing": True,
        "columns": {"names": ["schema.fields[*].name"], "values": ["f[*].v"]}})

    pages = extract(entity)

    assert records_of(pages)[1] == {"id": "2", "name": None, "created_on": "2026-03-02"}
    assert rows_of(pages, entity) == [{"id": 1, "name": "a", "created_on": "2026-03-01"},
                                      {"id": 2, "created_on": "2026-03-02"}, {"id": 3, "name": "c"}]


def test_a_row_that_is_itself_the_list_of_values(httpserver):
    httpserver.expect_request("/api/items").respond_with_json(
        {"columns": [{"name": "id"}, {"name": "name"}], "data": [[1, "a"], [2, "b"]]})
    entity = make_entity(httpserver, pagination={"type": "single"}, records={
        "path": "data", "columns": {"names": ["columns[*].name"], "values": ["[*]"]}})
    assert records_of(extract(entity)) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


@pytest.mark.parametrize("body,error", [
    ({"schema": {"fields": [{"name": "id"}]}, "rows": [{"f": [{"v": "1"}, {"v": "2"}]}]},
     "record 0 has 2 values for 1 column names"),
    ({"schema": {"fields": [{"name": "id"}, {"name": "id"}]}, "rows": [{"f": [{"v": "1"}, {"v": "2"}]}]},
     "must be distinct strings"),
    ({"schema": {"fields": {"name": "id"}}, "rows": [{"f": [{"v": "1"}]}]},
     "'schema.fields' is dict, not a list"),
])
def test_rows_that_do_not_match_their_headers_are_an_error(httpserver, body, error):
    httpserver.expect_request("/api/items").respond_with_json(body)
    entity = make_entity(httpserver, pagination={"type": "single"}, records={
        "path": "rows", "columns": {"names": ["schema.fields[*].name"], "values": ["f[*].v"]}})
    with pytest.raises(ApiError, match=error):
        extract(entity)


@pytest.mark.parametrize("records,pagination,problem", [
    ({"path": "data", "format": "csv"}, None, "records.path must be empty for format csv"),
    ({"path": "", "format": "tsv", "header": False}, None, "name the columns with records.column_names"),
    ({"path": "data", "delimiter": ";", "column_names": ["id"]}, None,
     "records.delimiter, records.column_names: only for format csv or tsv, not json"),
    ({"path": "", "format": "csv", "delimiter": "'", "quote_char": "'"}, None, "must differ"),
    ({"path": "data", "namespaces": {"a": "urn:a"}}, None, "records.namespaces: only for format xml"),
    ({"path": "", "format": "jsonl", "columns": GA4_COLUMNS}, None, "which format jsonl has not"),
    ({"path": "", "format": "csv"}, {"type": "page_number", "page_param": "p", "total_pages_path": "n"},
     "pagination.total_pages_path reads the response body, which format csv has not"),
    ({"path": "feed.entry", "format": "xml"}, {"type": "cursor", "cursor_param": "c", "cursor_path": "c",
                                               "has_more_path": "more"},
     "pagination.has_more_path: XML values are text"),
])
def test_format_settings_are_cross_checked(records, pagination, problem):
    spec = {"records": records, **({"pagination": pagination} if pagination else {})}
    assert schema_errors("entity", {**MINIMAL, **spec}) == []
    assert any(problem in p for p in cross_check(entity_config(spec))), cross_check(entity_config(spec))


def test_the_schema_accepts_the_documented_configs_and_refuses_a_header_path_without_a_list():
    ga4 = {**MINIMAL, "records": {"path": "rows", "allow_missing": True, "columns": GA4_COLUMNS}}
    assert schema_errors("entity", ga4) == []
    assert cross_check(entity_config({"records": ga4["records"]})) == []
    bad = {**MINIMAL, "records": {"path": "rows",
                                  "columns": {"names": ["schema.fields"], "values": ["f[*].v"]}}}
    assert schema_errors("entity", bad) != []
    assert schema_errors("entity", {**MINIMAL, "records": {"path": "", "format": "tsv",
                                                           "delimiter": "ab"}}) != []
