"""Text response formats (CSV, TSV, XML) and rows described by headers (`records.columns`).

Values come out as text; ingestion/rows/coerce.py turns them into the columns' types like any
JSON string. XML is parsed with defusedxml: a document declaring entities (the "billion laughs"
bomb) or reaching for external ones is refused, never expanded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

from ingestion.contract.errors import ApiError
from ingestion.contract.jsonpath import PathNotFound, dig
from ingestion.contract.sections import HeaderColumns, RecordsSpec
from ingestion.source.records import ResponseFormat, records_at


def decode_text(payload: bytes, url: str) -> str:
    try:
        return payload.decode("utf-8-sig")  # a leading byte-order mark is not part of the header
    except UnicodeDecodeError as exc:
        raise ApiError(f"response from {url} is not UTF-8 text: {exc}") from None


class CsvFormat(ResponseFormat):
    """Delimited text, one record per row, named by the header row (or `records.column_names`).
    Quoted values may hold the delimiter, quotes (doubled) and newlines. No body to page through."""

    type, suffix, content_type = "csv", ".csv", "text/csv"
    delimiter, quote_char = ",", '"'

    def parse(self, payloads: Iterator[bytes], spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
        delimiter = spec.delimiter or self.delimiter
        quote_char = self.quote_char if spec.quote_char is None else spec.quote_char
        dialect: dict[str, Any] = ({"quotechar": quote_char} if quote_char
                                   else {"quoting": csv.QUOTE_NONE})
        records: list[dict] = []
        for payload in payloads:  # each member of an archive has its own header row
            rows = csv.reader(io.StringIO(decode_text(payload, url), newline=""),
                              delimiter=delimiter, strict=True, **dialect)
            try:
                records += self._records(rows, spec, url)
            except csv.Error as exc:
                raise ApiError(f"response from {url} is not valid {self.type.upper()}: {exc}") from None
        return None, records

    @staticmethod
    def _records(rows: Any, spec: RecordsSpec, url: str) -> list[dict]:
        header = next(rows, None) if spec.header else None
        names = list(spec.column_names) or header or []
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ApiError(f"response from {url}: the header row names {duplicated} more than once; "
                           "name the columns with records.column_names")
        records = []
        for row in rows:
            if not row:  # a blank line
                continue
            if len(row) > len(names):
                raise ApiError(f"response from {url}: line {rows.line_num} has {len(row)} values "
                               f"for {len(names)} columns")
            records.append(dict(zip(names, row, strict=False)))  # a short row: its last columns missing
        return records


class TsvFormat(CsvFormat):
    """Tab-separated text; no quoting unless `records.quote_char` asks for it (App Store Connect's
    reports are plain tab-separated lines, where a `"` in a title is just a character)."""

    type, suffix, content_type = "tsv", ".tsv", "text/tab-separated-values"
    delimiter, quote_char = "\t", ""


class XmlFormat(ResponseFormat):
    """One XML document, turned into the JSON shape every path reads (records, pagination): an
    element is `{child: ..., "@attribute": ..., "#text": ...}`, a leaf element without attributes
    is its text, a repeated child becomes a list, and the root is the one key of the body
    (`feed.entry`). Names are local names, or `prefix:name` for a namespace declared in
    `records.namespaces`."""

    type, suffix, content_type = "xml", ".xml", "application/xml"

    def parse(self, payloads: Iterator[bytes], spec: RecordsSpec, url: str) -> tuple[Any, list[Any]]:
        try:
            root = defusedxml.ElementTree.fromstring(b"".join(payloads))
        except defusedxml.DefusedXmlException as exc:
            raise ApiError(f"response from {url} is refused: XML that declares or references "
                           f"entities is never expanded (billion laughs, external entities): {exc}") from None
        except ParseError as exc:
            raise ApiError(f"response from {url} is not valid XML: {exc}") from None
        name = namer(spec.namespaces)
        body = {name(root.tag): element_value(root, name)}
        return body, records_at(body, spec.path, url, spec.allow_missing)


def namer(namespaces: dict[str, str]) -> Callable[[str], str]:
    """`{uri}local` → `prefix:local` for a declared namespace, else `local`."""
    prefixes = {uri: prefix for prefix, uri in namespaces.items()}

    def name(tag: str) -> str:
        if not tag.startswith("{"):
            return tag
        uri, local = tag[1:].split("}", 1)
        return f"{prefixes[uri]}:{local}" if uri in prefixes else local

    return name


def element_value(element: Element, name: Callable[[str], str]) -> Any:
    value: dict[str, Any] = {f"@{name(key)}": text for key, text in element.attrib.items()}
    for child in element:
        key, item = name(child.tag), element_value(child, name)
        if key not in value:
            value[key] = item
        elif isinstance(value[key], list):  # values are never lists themselves: only repeats are
            value[key].append(item)
        else:
            value[key] = [value[key], item]
    text = element.text or ""
    if not value:
        return text or None  # <x/> and <x></x> are the same element: no value
    if text.strip():
        value["#text"] = text
    return value


def path_values(document: Any, path: str) -> list[Any]:
    """The values at a path with one `[*]` step that runs over a list (`schema.fields[*].name`,
    `[*]` for a record that is itself the list). An absent list is empty: proto3 JSON (GA4) omits
    empty lists. Kept to this one function so the bracket syntax of
    ingestion/contract/jsonpath.py can replace it."""
    head, _, rest = path.partition("[*]")
    try:
        items = dig(document, head.removesuffix("."))
    except PathNotFound:
        return []
    if not isinstance(items, list):
        raise ApiError(f"{head!r} is {type(items).__name__}, not a list")
    return [dig(item, rest.removeprefix(".")) for item in items]


def named_records(body: Any, records: list[Any], columns: HeaderColumns, url: str) -> list[dict]:
    """Positional rows → `{name: value}` records: the names read once from the body (GA4's
    dimension and metric headers, BigQuery's `schema.fields`), the values from each record."""
    if not records:
        return []
    try:
        names = [n for path in columns.names for n in path_values(body, path)]
        rows = [[v for path in columns.values for v in path_values(record, path)] for record in records]
    except (ApiError, PathNotFound) as exc:
        raise ApiError(f"response from {url}: records.columns: {exc}") from None
    if not all(isinstance(n, str) for n in names) or len(set(names)) < len(names):
        raise ApiError(f"response from {url}: records.columns.names gave {names!r}: "
                       "the column names must be distinct strings")
    for index, row in enumerate(rows):
        if len(row) != len(names):
            raise ApiError(f"response from {url}: record {index} has {len(row)} values "
                           f"for {len(names)} column names {names}")
    return [dict(zip(names, row, strict=True)) for row in rows]
