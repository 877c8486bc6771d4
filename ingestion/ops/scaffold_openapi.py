"""`scaffold --openapi`: a config and a BigQuery schema per list endpoint of an OpenAPI 3 document.

A list endpoint is a GET whose 200 response is an array, or an object holding an array of
objects. Its columns come from the declared record schema (`$ref`s followed within the document,
`allOf` merged), its paging and date filter from the declared query parameters, response
properties and response headers (read by the same guesses as a sample response: the response is
synthesised from its schema), its base URL from `servers[0]` and its auth from the security scheme.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingestion.ops.guess import Evidence, Param, noted
from ingestion.ops.scaffold import COLUMN, Endpoint, Proposal, build, find_records

MAX_DEPTH = 4  # RECORDs nested deeper are kept as JSON (BigQuery allows 15 levels)
MAX_FIELDS = 1000  # nested fields per endpoint: past them, objects are kept as JSON
STRING_TYPES = {"date-time": "TIMESTAMP", "date": "DATE", "time": "TIME", "byte": "BYTES",
                "decimal": "NUMERIC"}
SAMPLES = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "uri": "https://api.example.com/next",
           "url": "https://api.example.com/next"}


GENERIC = {"search", "list", "all", "query", "export"}  # path ends naming no kind of record


class NotAList(ValueError):
    """An operation scaffold does not propose, and why."""


def load_document(path: Path) -> dict:
    """A JSON document; YAML when PyYAML is installed (it is not a dependency of the suite)."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml") or not text.lstrip().startswith("{"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path} is YAML: convert it to JSON, or pip install pyyaml") from None
        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise ValueError(f"{path} is not an OpenAPI 3 document (no `openapi: 3.x`; convert a "
                         "Swagger 2.0 document first)")
    return document


def kind(schema: dict) -> str | None:
    types = schema.get("type")
    if isinstance(types, list):  # OpenAPI 3.1: ["string", "null"]
        types = next((t for t in types if t != "null"), "null")
    return types or ("object" if "properties" in schema else "array" if "items" in schema else None)


class Document:
    """The document, with its `$ref`s followed and its composed schemas flattened."""

    def __init__(self, document: dict):
        self.document = document
        self.budget = MAX_FIELDS  # nested fields left to the columns being made (`columns`)

    def deref(self, node: Any, seen: frozenset = frozenset()) -> tuple[Any, frozenset]:
        """What `node` points to (each `$ref` once per branch: `seen` cuts cycles to {})."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}, seen  # a cycle, or another file's: kept as JSON
            seen, node = seen | {ref}, self.document
            for part in ref[2:].split("/"):
                key = part.replace("~1", "/").replace("~0", "~")
                node = node.get(key, {}) if isinstance(node, dict) else {}
        return node, seen

    def flat(self, node: Any, seen: frozenset = frozenset()) -> tuple[dict, frozenset]:
        """One schema: `allOf` merged; `oneOf`/`anyOf` of one type (besides null) merged, of
        several types marked `x-mixed` (a JSON column) with their properties kept."""
        node, seen = self.deref(node, seen)
        schema = {k: v for k, v in node.items() if k not in ("allOf", "oneOf", "anyOf")} \
            if isinstance(node, dict) else {}
        for part in node.get("allOf", []) if isinstance(node, dict) else []:
            merge(schema, self.flat(part, seen)[0])
        variants = [self.flat(v, seen)[0] for v in (node.get("oneOf") or node.get("anyOf") or [])] \
            if isinstance(node, dict) else []
        if any(kind(v) == "null" for v in variants):
            schema["nullable"] = True
        variants = [v for v in variants if kind(v) != "null"]
        if len({kind(v) for v in variants}) > 1:
            schema["x-mixed"] = True
        for variant in variants:
            merge(schema, variant)
        return schema, seen

    def columns(self, properties: dict) -> list[dict]:
        """The columns of a record's properties. Schemas that refer to each other can describe
        vast trees: nesting stops at MAX_DEPTH levels and MAX_FIELDS fields, in JSON columns."""
        self.budget = MAX_FIELDS
        return [self.column(key, value) for key, value in properties.items()]

    def column(self, name: str, node: Any, seen: frozenset = frozenset(), depth: int = 0) -> dict:
        """The BigQuery field a property's schema describes."""
        schema, seen = self.flat(node, seen)
        field: dict[str, Any] = {"name": name, "type": "JSON", "mode": "NULLABLE"}
        if isinstance(schema.get("description"), str) and schema["description"].strip():
            field["description"] = schema["description"].strip()[:1024]
        what = kind(schema)
        if schema.get("x-mixed") or depth > MAX_DEPTH or what is None:
            return {**field, "type": "STRING"} if "enum" in schema else field
        if what == "array":
            inner = self.column(name, schema.get("items", {}), seen, depth + 1)
            repeatable = inner["type"] != "JSON" and inner["mode"] != "REPEATED"
            return {**inner, **{k: v for k, v in field.items() if k != "type"},
                    "mode": "REPEATED"} if repeatable else field
        if what == "object":
            properties = schema.get("properties") or {}
            if properties and all(COLUMN.match(k) for k in properties) and self.budget >= len(properties):
                self.budget -= len(properties)
                return {**field, "type": "RECORD", "fields": [
                    self.column(k, v, seen, depth + 1) for k, v in properties.items()]}
            return field
        return {**field, "type": scalar_type(what, schema)}

    def synthesise(self, node: Any, lists: dict[int, Any], seen: frozenset = frozenset(),
                   depth: int = 0) -> Any:
        """A response as the schema describes it: one element per array (`lists` maps each
        array made to its items' schema), strings in their format, the documented examples."""
        schema, seen = self.flat(node, seen)
        example = schema.get("example")
        if isinstance(example, str | int | float | bool) and kind(schema) not in ("object", "array"):
            return example
        what = kind(schema)
        if what == "object":
            return {k: self.synthesise(v, lists, seen, depth + 1)
                    for k, v in (schema.get("properties") or {}).items()} if depth < 4 else {}
        if what == "array":
            made = [self.synthesise(schema.get("items", {}), lists, seen, depth + 1)]
            lists[id(made)] = schema.get("items", {})
            return made
        return {"integer": 1, "number": 1.5, "boolean": True}.get(
            what or "", SAMPLES.get(schema.get("format", ""), "text"))


def merge(into: dict, part: dict) -> None:
    """Fold one schema into another: properties and required united, the rest kept if unset."""
    for key, value in part.items():
        if key == "properties":  # a new dict: the document's own are never changed
            own = into.get("properties", {})
            into["properties"] = {**own, **{k: v for k, v in value.items() if k not in own}}
        elif key == "required":
            into["required"] = [*into.get("required", []), *value]
        else:
            into.setdefault(key, value)


def scalar_type(what: str, schema: dict) -> str:
    fmt = schema.get("format", "")
    if what == "string":
        return STRING_TYPES.get(fmt, "STRING")
    if what == "integer":
        return "TIMESTAMP" if fmt in ("unix-time", "timestamp") else "INT64"
    if what == "number":
        return "NUMERIC" if fmt == "decimal" or "multipleOf" in schema else "FLOAT64"
    return "BOOL" if what == "boolean" else "JSON"


def propose_openapi(file: Path, name: str, only: str | None, existing_source: dict | None,
                    schedule: str | None) -> tuple[list[Proposal], list[str]]:
    """A proposal per list endpoint (`only`: that path), and why the other GETs were skipped.
    `name` is `<source>`, or `<source>/<entity>` with `only`. A proposal that does not validate
    fails them all: nothing is written."""
    document = Document(load_document(file))
    paths = document.document.get("paths") or {}
    if only is not None and only not in paths:
        raise ValueError(f"{file} has no path {only!r} (its paths: {', '.join(list(paths)[:12])})")
    source, _, entity = name.partition("/")
    proposals, skipped, taken = [], [], set()
    for path, item in paths.items():
        operation = document.deref(item)[0].get("get") if only in (None, path) else None
        if not isinstance(operation, dict):
            continue
        try:
            endpoint = read_endpoint(document, path, operation,
                                     lambda path=path: f"{source}/{entity or entity_for(path, taken)}")
        except NotAList as exc:
            if only is not None:
                raise ValueError(f"GET {path}: {exc}") from None
            skipped.append(f"GET {path}: {exc}")
            continue
        try:
            proposals.append(build(endpoint, existing_source, schedule))
        except ValueError as exc:
            raise ValueError(f"GET {path}: {exc}") from None
        existing_source = existing_source or proposals[-1].source  # one _source.json, noted once
    if only is not None and not proposals:
        raise ValueError(f"{file}: {only} has no GET operation")
    if not proposals:
        raise ValueError(f"{file} has no list endpoint (a GET answering an array, or an object holding one)")
    return proposals, skipped


def read_endpoint(document: Document, path: str, operation: dict, name: Callable[[], str]) -> Endpoint:
    """The endpoint a GET operation lists (named by `name()` once it is one), else NotAList."""
    if "{" in path:
        raise NotAList("a path parameter: read it per parent id with fan_out (docs/config.md#fan-out)")
    response = list_response(document, operation)
    if response is None:
        raise NotAList("no JSON 200 response")
    schema, header_schemas = response
    lists: dict[int, Any] = {}
    body = document.synthesise(schema, lists)
    try:
        records_path, records = find_records(body)
    except ValueError:
        raise NotAList("does not answer a list of objects") from None
    properties = document.flat(lists.get(id(records), {}))[0].get("properties") or {}
    if not properties:
        raise NotAList("its records declare no properties")
    notes: list[str] = []
    noted(notes, "records.path", json.dumps(records_path), f"the 200 response schema of GET {path}")
    fields = document.columns(properties)
    noted(notes, "schema", f"{len(fields)} columns", "the properties of its records' schema")
    headers = {header: '<https://api.example.com/next>; rel="next"' if header.lower() == "link" else
               str(document.synthesise(document.flat(spec)[0].get("schema", {}), {}))
               for header, spec in header_schemas.items()}
    params = parameters(document, path, operation, notes)
    evidence = Evidence(body, records, headers, params, params_from="the declared parameters", declared=True)
    summary = str(operation.get("summary") or operation.get("description") or "").strip()[:200]
    return Endpoint(name(), path, records_path, fields, evidence, server(document, operation),
                    "servers[0].url of the document", security(document, operation, notes),
                    f"{summary} (GET {path}; scaffolded from OpenAPI, review it)".lstrip(), notes)


def list_response(document: Document, operation: dict) -> tuple[Any, dict] | None:
    responses = operation.get("responses") or {}
    response = next((responses[c] for c in ("200", 200, "2XX", "2xx") if c in responses), None)
    response = document.deref(response)[0] if response is not None else {}
    content = response.get("content") or {}
    media = next((m for m in content if "json" in m.lower()), None)
    if media is None or "schema" not in content[media]:
        return None
    return content[media]["schema"], response.get("headers") or {}


def parameters(document: Document, path: str, operation: dict, notes: list[str]) -> list[Param]:
    """The query parameters; an object parameter (Stripe's `created[gte]`) as one per property.
    A required one gets its default as a value (else a note: set it in request.params)."""
    item = document.deref(document.document["paths"][path])[0]
    declared = {}
    for spec in [*item.get("parameters", []), *operation.get("parameters", [])]:
        spec = document.deref(spec)[0]
        if spec.get("in") == "query" and spec.get("name"):
            declared[spec["name"]] = spec
    params = []
    for name, spec in declared.items():
        schema = document.flat(spec.get("schema", {}))[0]
        size = next((v for v in (schema.get("maximum"), schema.get("default")) if isinstance(v, int)), None)
        value = str(schema["default"]) if spec.get("required") and "default" in schema else None
        if spec.get("required") and value is None:
            notes.append(f"request.params: {name} is required and has no default: set its value")
        params.append(Param(name, value, kind(schema), schema.get("format"), size))
        for key, sub in (schema.get("properties") or {}).items():
            sub = document.flat(sub)[0]
            params.append(Param(f"{name}[{key}]", None, kind(sub), sub.get("format")))
    return params


def server(document: Document, operation: dict) -> str | None:
    """`servers[0].url` with its variables' defaults: the base URL (a relative one: its path)."""
    servers = operation.get("servers") or document.document.get("servers") or []
    if not servers or not isinstance(servers[0].get("url"), str):
        return None
    variables = servers[0].get("variables") or {}
    url = re.sub(r"\{([^}]+)\}", lambda m: str((variables.get(m[1]) or {}).get("default", m[0])),
                 servers[0]["url"]).rstrip("/")
    return url if url.startswith(("http://", "https://")) or not url else "/" + url.lstrip("/")


def security(document: Document, operation: dict, notes: list[str]) -> dict | None:
    """The first security scheme of the operation (else the document) that maps to an auth type."""
    schemes = (document.document.get("components") or {}).get("securitySchemes") or {}
    for requirement in operation.get("security", document.document.get("security")) or []:
        for scheme_name, scopes in requirement.items():
            scheme = document.deref(schemes.get(scheme_name, {}))[0]
            shown = " ".join(filter(None, [scheme.get("type"), scheme.get("in"), scheme.get("scheme"),
                                           *(scheme.get("flows") or {})]))
            auth = auth_type(scheme, scopes)
            if auth:
                return {**auth, "evidence": f"the security scheme {scheme_name!r} ({shown})"}
            notes.append(f"auth: the security scheme {scheme_name!r} ({shown}) has no auth type here: "
                         "see docs/config.md \"Auth types\"")
    return None


def auth_type(scheme: dict, scopes: list[str]) -> dict | None:
    what, flows = scheme.get("type"), scheme.get("flows") or {}
    if what == "apiKey" and scheme.get("in") in ("header", "query"):
        return {"type": "api_key", "in": scheme["in"], "name": scheme.get("name", "")}
    if what == "http" and str(scheme.get("scheme", "")).lower() in ("bearer", "basic"):
        return {"type": str(scheme["scheme"]).lower()}
    for flow, auth in (("clientCredentials", "oauth2_client_credentials"),
                       ("authorizationCode", "oauth2_refresh_token")):
        if what == "oauth2" and flow in flows:
            return {"type": auth, "token_url": flows[flow].get("tokenUrl", ""),
                    **({"scope": " ".join(scopes)} if scopes else {})}
    return None


def entity_for(path: str, taken: set[str]) -> str:
    """`/v1/customers` → `customers`; `/v1/customers/search` → `customers_search`; when taken,
    more of the path (`v2_customers`)."""
    static = [re.sub(r"[^a-z0-9_]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", part).lower()).strip("_")
              for part in path.split("/") if part and "{" not in part]
    static = [part for part in static if part] or ["root"]
    for count in range(1 + (static[-1] in GENERIC and len(static) > 1), len(static) + 2):
        name = "_".join(static[-count:]) + (f"_{count}" if count > len(static) else "")
        if name not in taken:
            taken.add(name)
            return name
    raise AssertionError("unreachable")
