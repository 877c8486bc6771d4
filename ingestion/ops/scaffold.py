"""`scaffold`: from one sample API response, propose an entity config and its BigQuery schema.

Everything proposed is a guess to review (the notes say which): where the records are, their
column types (nested objects become RECORD, lists REPEATED), the merge key, the cursor and the
pagination style. The proposal is validated like any config before it is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ingestion.contract.config import EntityConfig, cross_check, deep_merge
from ingestion.contract.jsonpath import dig
from ingestion.contract.schema import schema_errors

COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
CURSOR_NAMES = ("updated_at", "updatedat", "modified_at", "modifiedat", "last_modified",
                "lastmodified", "date_modified", "updated", "modified", "changed_at", "updated_time")
KEY_NAMES = ("id", "uuid", "key", "_id")
RECORD_LIST_NAMES = ("data", "items", "results", "records", "rows", "entries", "values", "elements")
# Names in a response body that give the pagination style away.
NEXT_URL_NAMES = ("next", "next_url", "nextUrl", "next_page_url", "nextPageUrl", "nextLink",
                  "@odata.nextLink")
CURSOR_TOKEN_NAMES = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "cursor",
                      "continuation_token", "continuationToken", "after", "next_token")
TOTAL_PAGES_NAMES = ("total_pages", "totalPages", "pages", "page_count", "pageCount", "last_page")
TOTAL_COUNT_NAMES = ("total", "total_count", "totalCount", "count", "total_results", "totalResults")


@dataclass
class Proposal:
    config: dict
    schema: list[dict]
    notes: list[str] = field(default_factory=list)
    source: dict | None = None  # a _source.json, when the source has none yet


def find_records(body: Any, path: str | None = None) -> tuple[str, list]:
    """The records and their dotted path: given, the body itself when it is a list, else the
    longest list of objects in it (a well-known name such as `data` wins a tie)."""
    if path is not None:
        found = dig(body, path)
        if not isinstance(found, list):
            raise ValueError(f"records path {path!r} holds a {type(found).__name__}, not a list")
        return path, found
    if isinstance(body, list):
        return "", body
    candidates: list[tuple[int, int, str, list]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                dotted = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    candidates.append((len(value), key.lower() in RECORD_LIST_NAMES, dotted, value))
                walk(value, dotted)

    walk(body, "")
    if not candidates:
        raise ValueError("no list of objects found in the sample: pass --records-path")
    _, _, dotted, records = max(candidates, key=lambda c: (c[0], c[1], -c[2].count(".")))
    return dotted, records


def scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str) and DATE.match(value):
        return "DATE"
    if isinstance(value, str) and INSTANT.match(value):
        return "TIMESTAMP"
    return "STRING"


def widen(a: str | None, b: str) -> str:
    """The type that holds values of both: INTEGER+FLOAT is FLOAT, DATE+TIMESTAMP is TIMESTAMP,
    anything else mixed is STRING (the loader keeps the text)."""
    if a is None or a == b:
        return b
    pair = {a, b}
    if pair == {"INTEGER", "FLOAT"}:
        return "FLOAT"
    if pair == {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "STRING"


def infer_fields(records: list[dict]) -> list[dict]:
    """BigQuery schema fields for a list of JSON objects, in first-seen key order."""
    seen: dict[str, list[Any]] = {}
    for record in records:
        for key, value in record.items():
            seen.setdefault(key, []).append(value)
    return [infer_field(name, values) for name, values in seen.items()]


def infer_field(name: str, values: list[Any]) -> dict:
    present = [v for v in values if v is not None]
    lists = [v for v in present if isinstance(v, list)]
    mode = "REPEATED" if lists and len(lists) == len(present) else "NULLABLE"
    items = [item for v in lists for item in v if item is not None] if mode == "REPEATED" else present
    objects = [v for v in items if isinstance(v, dict)]
    if objects and len(objects) == len(items):
        if all(COLUMN.match(k) for o in objects for k in o):
            return {"name": name, "type": "RECORD", "mode": mode, "fields": infer_fields(objects)}
        return {"name": name, "type": "JSON", "mode": "NULLABLE"}  # keys BigQuery cannot name
    if any(isinstance(v, dict | list) for v in items):
        return {"name": name, "type": "JSON", "mode": "NULLABLE"}  # mixed shapes: keep as JSON
    kind = None
    for value in items:
        kind = widen(kind, scalar_type(value))
    return {"name": name, "type": kind or "STRING", "mode": mode}


def column_name(key: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    name = name if re.match(r"^[A-Za-z_]", name) else f"_{name}"
    while name in taken:
        name += "_"
    return name[:300]


def name_columns(fields: list[dict]) -> dict[str, str]:
    """Rename top-level keys BigQuery cannot use as column names; returns column → source key
    (the config's `records.fields`)."""
    renamed, taken = {}, {f["name"] for f in fields if COLUMN.match(f["name"])}
    for spec in fields:
        if not COLUMN.match(spec["name"]):
            column = column_name(spec["name"], taken)
            taken.add(column)
            renamed[column] = spec["name"]
            spec["name"] = column
    return renamed


def pick(fields: list[dict], names: tuple[str, ...], types: set[str]) -> str | None:
    by_name = {f["name"].lower(): f["name"] for f in fields
               if f["type"] in types and f.get("mode") != "REPEATED"}
    return next((by_name[n.lower()] for n in names if n.lower() in by_name), None)


def find_value(body: Any, names: tuple[str, ...], skip: str) -> tuple[str, Any] | None:
    """The first key among `names` anywhere in the body (outside the records): its path and value."""
    if not isinstance(body, dict):
        return None
    queue: list[tuple[str, dict]] = [("", body)]
    while queue:
        prefix, node = queue.pop(0)
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if dotted == skip:
                continue
            if key in names and not isinstance(value, dict | list):
                return dotted, value
            if isinstance(value, dict):
                queue.append((dotted, value))
    return None


def guess_pagination(body: Any, records_path: str, notes: list[str]) -> dict:
    found = find_value(body, NEXT_URL_NAMES, records_path)
    if found and isinstance(found[1], str | type(None)):
        return {"type": "next_url", "next_url_path": found[0]}
    if found := find_value(body, CURSOR_TOKEN_NAMES, records_path):
        notes.append(f"pagination: cursor from {found[0]}; check the name of the request "
                     "parameter that takes it (cursor_param)")
        return {"type": "cursor", "cursor_path": found[0], "cursor_param": found[0].split(".")[-1]}
    if found := find_value(body, TOTAL_PAGES_NAMES, records_path):
        notes.append("pagination: page numbers; check page_param/size_param names and page_size")
        return {"type": "page_number", "page_param": "page", "total_pages_path": found[0]}
    if found := find_value(body, TOTAL_COUNT_NAMES, records_path):
        notes.append("pagination: offset/limit; check offset_param/limit_param names and page_size")
        return {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 100,
                "total_count_path": found[0]}
    notes.append("pagination: nothing in the sample says how to get the next page, so `single` "
                 "(one request per window); see docs/config.md \"Pagination types\" if the API pages")
    return {"type": "single"}


def propose(name: str, body: Any, records_path: str | None = None, url: str | None = None,
            existing_source: dict | None = None, schedule: str | None = None,
            auth_header: tuple[str, str] | None = None) -> Proposal:
    """A config and schema for entity `name` (`<source>/<entity>`) from a sample response body;
    `existing_source` is the source's _source.json if it has one (else one is proposed, with an
    auth scheme guessed from `auth_header`, the (name, value) the sample was fetched with)."""
    source, entity = name.split("/")
    path, records = find_records(body, records_path)
    objects = [r for r in records if isinstance(r, dict)]
    if not objects:
        raise ValueError(f"the records at {path or 'the body'!r} are empty or not objects: "
                         "a sample needs at least one record")
    notes: list[str] = []
    schema = infer_fields(objects)
    renamed = name_columns(schema)
    key = pick(schema, KEY_NAMES, {"STRING", "INTEGER"})
    if key is None:
        key = schema[0]["name"]
        notes.append(f"merge_keys: no id-like field found; guessed {key!r}, set the field(s) that "
                     "identify a record")
    for spec in schema:
        if spec["name"] == key:
            spec["mode"] = "REQUIRED"
    cursor = pick(schema, CURSOR_NAMES, {"TIMESTAMP", "DATE"})
    parts = urlsplit(url) if url and url.startswith(("http://", "https://")) else None
    config: dict[str, Any] = {
        "$schema": "../../ingestion/contract/schemas/entity.schema.json",
        "description": f"{entity} from {source} (scaffolded from a sample response; review it)",
        "request": {"path": parts.path if parts else f"/{entity}", "method": "GET"},
        "records": {"path": path},
        "pagination": guess_pagination(body, path, notes),
        "merge_keys": [key],
        "target": {"table": column_name(entity, set())},
    }
    if renamed:
        config["records"]["fields"] = renamed
        notes.append(f"columns renamed for BigQuery: {renamed}")
    if cursor:
        config["cursor_field"] = cursor
        notes.append(f"cursor_field: {cursor!r}. To fetch only changes, add a date_filter with "
                     "the request parameters the API filters on (docs/config.md)")
    else:
        notes.append("no updated-at field found: every run reads everything (set cursor_field "
                     "and date_filter if the API can filter by change time)")
    if schedule:
        config["schedule"] = {"cron": schedule, "time_zone": "Etc/UTC", "sync_mode": "incremental"}
    source_config = None
    if existing_source is None:
        base = (f"{parts.scheme}://{parts.netloc}" if parts
                else f"${{{column_name(source, set()).upper()}_API_URL:-https://api.example.com}}")
        if not parts:
            notes.append(f"base_url: {base} is a placeholder; set the API's address in "
                         f"config/{source}/_source.json")
        start = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
        source_config = {"$schema": "../../ingestion/contract/schemas/entity.schema.json#/$defs/source",
                         "description": f"The {source} API.", "base_url": base,
                         "auth": guess_auth(source, auth_header, notes), "start_date": start,
                         "target": {"dataset": column_name(source, set())}}
    check(config, schema, existing_source or source_config)
    return Proposal(config, schema, notes, source_config)


def guess_auth(source: str, header: tuple[str, str] | None, notes: list[str]) -> dict:
    """The scheme the sample request used; its value is never written, only where it must go."""
    if header is None:
        notes.append(f"auth: none; if the API needs credentials set config/{source}/_source.json "
                     "auth (docs/config.md \"Auth types\") and store them in Secret Manager")
        return {"type": "none"}
    secret, (name, value) = f"{source}-api", header
    if name.lower() == "authorization" and value.lower().startswith("bearer "):
        auth, stored = {"type": "bearer", "secret": secret}, '{"token": "..."}'
    else:
        auth, stored = {"type": "api_key", "in": "header", "name": name, "secret": secret}, \
            '{"api_key": "..."}'
    notes.append(f"auth: {auth['type']} from secret {secret!r}: store {stored} there (locally: "
                 f".local/secrets.json as {{\"{secret}\": {stored}}})")
    return auth


def check(config: dict, schema: list[dict], source: dict | None) -> None:
    """A proposal must validate like a hand-written config (a scaffold bug, not a user error)."""
    spec = deep_merge(source or {}, config)
    spec.pop("$schema", None)
    problems = schema_errors("entity", config) + schema_errors("bq", schema)
    if source:
        problems += schema_errors("source", source)
    if not problems:
        problems = cross_check(EntityConfig.parse("scaffold/proposal", spec, schema))
    if problems:
        raise ValueError("the proposal does not validate: " + "; ".join(problems))


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
