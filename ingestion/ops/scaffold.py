"""`scaffold`: propose an entity config and its BigQuery schema from what an API shows, for review.

Two readers feed one assembly (`build`): a sample response (a saved file, or a live URL with its
headers: this module) and an OpenAPI 3 document (`scaffold_openapi`). Either finds an endpoint's
records and their columns; `build` guesses the merge key, the cursor, the date filter and the
paging (`guess`, `scaffold_paging`), notes every guess with what it was inferred from, and
validates the proposal like any config before anything is written.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ingestion.contract.config import RESERVED_COLUMNS, EntityConfig, cross_check, deep_merge
from ingestion.contract.jsonpath import dig
from ingestion.contract.schema import schema_errors
from ingestion.ops.guess import (
    DATE,
    INSTANT,
    RECORD_LIST_NAMES,
    Evidence,
    Param,
    guess_cursor,
    guess_date_filter,
    guess_key,
    noted,
    path_of,
)
from ingestion.ops.scaffold_paging import guess_pagination

COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
# What each auth type reads from its secret (docs/config.md "Auth types"), as the notes show it.
SECRET_FIELDS = {"api_key": ["api_key"], "bearer": ["token"], "basic": ["username", "password"],
                 "oauth2_client_credentials": ["client_id", "client_secret"],
                 "oauth2_refresh_token": ["client_id", "client_secret", "refresh_token"]}
GRAPHQL_PLACEHOLDER = {"query": "# the query the sample answers: page with $after (and $first)"}


@dataclass
class Proposal:
    name: str
    config: dict
    schema: list[dict]
    notes: list[str] = field(default_factory=list)
    source: dict | None = None  # a _source.json, when the source has none yet


@dataclass
class Sample:
    """A response to learn from: its body, and for a live URL its headers and what was sent."""

    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    request_body: dict | None = None


@dataclass
class Endpoint:
    """What a reader found about one list endpoint; `build` makes the proposal."""

    name: str  # <source>/<entity>
    path: str
    records_path: str
    fields: list[dict]
    evidence: Evidence
    base_url: str | None = None  # None: a placeholder; "/prefix": a placeholder host with that path
    base_from: str = "the sample URL"
    auth: dict | None = None  # None: no credentials
    description: str | None = None
    notes: list[str] = field(default_factory=list)


def read_sample(sample: str, headers: dict[str, str], data: dict | None = None) -> Sample:
    """A response from a file, or from an http(s) URL: GET, or POST `data` (a GraphQL query).
    Headers such as credentials are used for the request only, never written anywhere."""
    if not sample.startswith(("http://", "https://")):
        return Sample(json.loads(Path(sample).read_text()), request_body=data)
    import requests

    response = requests.request("POST" if data else "GET", sample, headers=headers, json=data, timeout=30)
    if not response.ok:
        raise ValueError(f"{'POST' if data else 'GET'} {sample} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise ValueError(f"{sample} did not answer JSON ({response.headers.get('Content-Type')})") from None
    return Sample(body, dict(response.headers), sample, data)


def request_data(text: str | None) -> dict | None:
    """`--data`: a JSON object, inline or `@file`."""
    if text is None:
        return None
    try:
        data = json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--data is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError('--data takes a JSON object (GraphQL: {"query": "...", "variables": {...}})')
    return data


def find_records(body: Any, path: str | None = None) -> tuple[str, list]:
    """The records and their path: given, the body itself when it is a list, else the longest
    list of objects in it (a well-known name such as `data` wins a tie, then the shallower);
    GraphQL `edges` are read through to their `node`s."""
    if path is not None:
        found = dig(body, path)
        if not isinstance(found, list):
            raise ValueError(f"records path {path!r} holds a {type(found).__name__}, not a list")
        return path, found
    if isinstance(body, list):
        return "", body
    candidates: list[tuple[int, bool, int, list[str], list]] = []

    def walk(node: Any, keys: list[str]) -> None:
        for key, value in node.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                named = key.lower() in RECORD_LIST_NAMES
                candidates.append((len(value), named, -len(keys), [*keys, key], value))
            if isinstance(value, dict):
                walk(value, [*keys, key])

    if isinstance(body, dict):
        walk(body, [])
    if not candidates:
        raise ValueError("no list of objects found in the sample: pass --records-path")
    *_, keys, records = max(candidates, key=lambda c: c[:3])
    if all(isinstance(r.get("node"), dict) for r in records):
        return path_of(keys) + "[*].node", [r["node"] for r in records]
    return path_of(keys), records


def scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, str) and DATE.match(value):
        return "DATE"
    if isinstance(value, str) and INSTANT.match(value):
        return "TIMESTAMP"
    return "STRING"


def widen(a: str | None, b: str) -> str:
    """The type that holds values of both: INT64+FLOAT64 is FLOAT64, DATE+TIMESTAMP is TIMESTAMP,
    anything else mixed is STRING (the loader keeps the text)."""
    if a is None or a == b:
        return b
    pair = {a, b}
    if pair == {"INT64", "FLOAT64"}:
        return "FLOAT64"
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
    while name.lower() in taken:
        name += "_"
    return name[:300]


def name_columns(fields: list[dict]) -> dict[str, str]:
    """Rename the top-level keys BigQuery cannot use as column names, the suite's own column
    names (`_deleted`) and case-insensitive repeats; returns column → path of the key (the
    config's `records.fields`, quoted where the key needs it)."""
    renamed, taken = {}, set(RESERVED_COLUMNS)
    for spec in fields:
        if not COLUMN.match(spec["name"]) or spec["name"].lower() in taken:
            column = column_name(spec["name"], taken)
            renamed[column] = path_of([spec["name"]])
            spec["name"] = column
        taken.add(spec["name"].lower())
    return renamed


def propose(name: str, sample: Sample, records_path: str | None = None,
            existing_source: dict | None = None, schedule: str | None = None,
            auth_header: tuple[str, str] | None = None) -> Proposal:
    """A config and schema for entity `name` (`<source>/<entity>`) from a sample response;
    `existing_source` is the source's _source.json if it has one (else one is proposed, with an
    auth scheme guessed from `auth_header`, the (name, value) the sample was fetched with)."""
    path, records = find_records(sample.body, records_path)
    objects = [r for r in records if isinstance(r, dict)]
    if not objects:
        raise ValueError(f"the records at {path or 'the body'!r} are empty or not objects: "
                         "a sample needs at least one record")
    notes: list[str] = []
    found_from = ("--records-path" if records_path is not None else "the response: the body is the list"
                  if path == "" else "the longest list of objects in the response")
    noted(notes, "records.path", json.dumps(path), found_from)
    parts = urlsplit(sample.url) if sample.url else None
    params = [Param(k, v) for k, v in parse_qsl(parts.query)] if parts else []
    evidence = Evidence(sample.body, objects, sample.headers, params, sample.request_body)
    fields = infer_fields(objects)
    noted(notes, "schema", f"{len(fields)} columns", f"the values of {len(objects)} sample record(s)")
    endpoint = Endpoint(name, (parts.path or "/") if parts else f"/{name.split('/')[1]}", path, fields,
                        evidence, base_url=f"{parts.scheme}://{parts.netloc}" if parts else None,
                        auth=sample_auth(auth_header), notes=notes)
    return build(endpoint, existing_source, schedule)


def sample_auth(header: tuple[str, str] | None) -> dict | None:
    """The scheme the sample request used (`None`: none); its value is never written."""
    if header is None:
        return None
    name, value = header
    if name.lower() == "authorization" and value.lower().startswith("bearer "):
        return {"type": "bearer", "evidence": f"the {name}: Bearer header of the sample request"}
    return {"type": "api_key", "in": "header", "name": name,
            "evidence": f"the {name} header of the sample request"}


def build(endpoint: Endpoint, existing_source: dict | None, schedule: str | None) -> Proposal:
    """The proposal for one endpoint: key, cursor, paging and date filter guessed, validated."""
    source, entity = endpoint.name.split("/")
    notes = list(endpoint.notes)
    schema, ev = endpoint.fields, endpoint.evidence
    renamed = name_columns(schema)
    key = guess_key(schema, entity, notes)
    for spec in schema:
        spec["mode"] = "REQUIRED" if spec["name"] == key else spec["mode"]
    ev.key_path = renamed.get(key, path_of([key]))
    cursor = guess_cursor(schema, notes)
    pagination = guess_pagination(ev, notes)
    date_filter = guess_date_filter(ev, notes)
    request: dict[str, Any] = {"path": endpoint.path, "method": "GET"}
    used = {v for k, v in pagination.items() if k.endswith("_param")} | set((date_filter or {}).values())
    if params := {p.name: p.value for p in ev.params if p.value is not None and p.name not in used}:
        request["params"] = params
    if ev.request_body is not None or pagination["type"] == "graphql":
        request.update(method="POST", body=request_body(ev.request_body, pagination, notes))
    config: dict[str, Any] = {
        "$schema": "../../ingestion/contract/schemas/entity.schema.json",
        "description": endpoint.description or f"{entity} from {source} (scaffolded; review it)",
        "request": request, "records": {"path": endpoint.records_path}, "pagination": pagination,
        "merge_keys": [key], "target": {"table": column_name(entity, set())},
    }
    if renamed:
        config["records"]["fields"] = renamed
        noted(notes, "records.fields", renamed, "keys BigQuery cannot name as columns")
    if cursor:
        config["cursor_field"] = cursor
    if date_filter:
        config["date_filter"] = date_filter
    elif cursor:
        notes.append("date_filter: none (no date parameter seen): every run reads everything; if the API "
                     "filters by change time add one, else see "
                     "docs/config.md#incremental-without-a-date-filter")
    if schedule:
        config["schedule"] = {"cron": schedule, "time_zone": "Etc/UTC", "sync_mode": "incremental"}
    source_config = None if existing_source is not None else propose_source(endpoint, notes)
    check(config, schema, existing_source or source_config)
    return Proposal(endpoint.name, config, schema, notes, source_config)


def request_body(sent: dict | None, pagination: dict, notes: list[str]) -> dict:
    """The POSTed body, without the variables the GraphQL paginator sets itself."""
    if sent is None:
        noted(notes, "request.body", GRAPHQL_PLACEHOLDER, "no --data: a placeholder",
              "put the GraphQL query (and variables) the sample answers there")
        return dict(GRAPHQL_PLACEHOLDER)
    body = copy.deepcopy(sent)
    if pagination["type"] == "graphql" and isinstance(body.get("variables"), dict):
        body["variables"].pop(pagination.get("cursor_variable", "after"), None)
        if "page_size" in pagination:
            body["variables"].pop(pagination.get("size_variable", "first"), None)
    return body


def propose_source(endpoint: Endpoint, notes: list[str]) -> dict:
    source = endpoint.name.split("/")[0]
    base = endpoint.base_url or None
    if base and not base.startswith("/"):
        noted(notes, "base_url", base, endpoint.base_from)
    else:
        placeholder = f"${{{column_name(source, set()).upper()}_API_URL:-https://api.example.com}}"
        notes.append(f"base_url: {placeholder}{base or ''} is a placeholder; set the API's address in "
                     f"config/{source}/_source.json")
        base = placeholder + (base or "").rstrip("/")
    start = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    return {"$schema": "../../ingestion/contract/schemas/entity.schema.json#/$defs/source",
            "description": f"The {source} API.", "base_url": base,
            "auth": source_auth(source, endpoint.auth, notes), "start_date": start,
            "target": {"dataset": column_name(source, set())}}


def source_auth(source: str, guessed: dict | None, notes: list[str]) -> dict:
    """The guessed auth with its secret named `<source>-api`, and what to store there."""
    if guessed is None:
        notes.append(f"auth: none; if the API needs credentials set config/{source}/_source.json "
                     "auth (docs/config.md \"Auth types\") and store them in Secret Manager")
        return {"type": "none"}
    auth = {k: v for k, v in guessed.items() if k != "evidence"}
    secret = auth["secret"] = f"{source}-api"
    stored = json.dumps(dict.fromkeys(SECRET_FIELDS[auth["type"]], "..."))
    noted(notes, "auth", auth, guessed["evidence"],
          f"store {stored} in secret {secret!r} (locally: .local/secrets.json as {{\"{secret}\": {stored}}})")
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


def files_of(proposals: list[Proposal], config_dir: Path, schema_dir: Path) -> dict[Path, Any]:
    """Where each proposed document goes: config and schema per entity, the source's once."""
    files: dict[Path, Any] = {}
    for proposal in proposals:
        source, entity = proposal.name.split("/")
        files[config_dir / source / f"{entity}.json"] = proposal.config
        files[schema_dir / source / f"{entity}.json"] = proposal.schema
        if proposal.source:
            files[config_dir / source / "_source.json"] = proposal.source
    return files


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
