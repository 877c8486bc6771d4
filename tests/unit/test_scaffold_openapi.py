"""`scaffold --openapi`: a config and a BigQuery schema per list endpoint of an OpenAPI 3 document,
every guess printed for review, all validated before anything is written. The documents under
tests/support/openapi/ follow Stripe's and HubSpot's published ones."""

from __future__ import annotations

import json

import pytest

from ingestion.contract.config import load_entity
from ingestion.contract.settings import ROOT
from ingestion.ops.cli import main as cli
from tests.support.apis.paging_styles import THINGS, hubspot, stripe
from tests.support.extraction import extract

DOCS = ROOT / "tests/support/openapi"
STRIPE, HUBSPOT = str(DOCS / "stripe_customers.json"), str(DOCS / "hubspot_contacts.json")


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INGEST_SCHEMA_DIR", str(tmp_path / "schema"))
    return tmp_path / "config", tmp_path / "schema"


def read(dirs, name: str) -> tuple[dict, dict]:
    """The config and the schema (by column) scaffold wrote for `name`."""
    config = json.loads((dirs[0] / f"{name}.json").read_text())
    return config, {f["name"]: f for f in json.loads((dirs[1] / f"{name}.json").read_text())}


def shape(field: dict) -> tuple:
    return field["type"], field["mode"]


def test_every_list_endpoint_of_a_stripe_like_document_is_proposed(dirs, capsys):
    assert cli(["scaffold", "stripe", "--openapi", STRIPE]) == 0

    out = capsys.readouterr().out
    assert sorted(p.name for p in (dirs[0] / "stripe").iterdir()) == \
        ["_source.json", "charges.json", "customers.json", "customers_search.json"]
    assert "skipped: GET /v1/customers/{customer}/sources: a path parameter: read it per parent id " \
           "with fan_out" in out
    assert "skipped: GET /v1/balance: does not answer a list of objects" in out
    assert cli(["validate", "--config-dir", str(dirs[0]), "--schema-dir", str(dirs[1])]) == 0

    customers, columns = read(dirs, "stripe/customers")
    assert customers["request"] == {"path": "/v1/customers", "method": "GET"}
    assert customers["records"] == {"path": "data"} and customers["merge_keys"] == ["id"]
    assert customers["pagination"] == {"type": "cursor", "last_record_path": "id",
                                       "cursor_param": "starting_after", "size_param": "limit",
                                       "page_size": 100, "has_more_path": "has_more"}
    assert customers["date_filter"] == {"start_param": "created[gte]", "end_param": "created[lt]",
                                        "format": "epoch_s"}
    assert {name: shape(f) for name, f in columns.items()} == {
        "id": ("STRING", "REQUIRED"), "object": ("STRING", "NULLABLE"), "address": ("RECORD", "NULLABLE"),
        "balance": ("INT64", "NULLABLE"), "created": ("TIMESTAMP", "NULLABLE"),
        "currency": ("STRING", "NULLABLE"), "default_source": ("JSON", "NULLABLE"),
        "delinquent": ("BOOL", "NULLABLE"), "email": ("STRING", "NULLABLE"), "livemode": ("BOOL", "NULLABLE"),
        "metadata": ("JSON", "NULLABLE"), "name": ("STRING", "NULLABLE"),
        "preferred_locales": ("STRING", "REPEATED"), "tax_exempt": ("STRING", "NULLABLE")}
    assert [f["name"] for f in columns["address"]["fields"]] == ["city", "country", "line1", "postal_code"]
    assert columns["address"]["description"] == "The customer's address."
    search, _ = read(dirs, "stripe/customers_search")
    assert search["pagination"] == {"type": "cursor", "cursor_path": "next_page", "cursor_param": "page",
                                    "size_param": "limit", "page_size": 100, "has_more_path": "has_more"}
    _, charge = read(dirs, "stripe/charges")
    refunds = {f["name"]: f for f in charge["refunds"]["fields"]}
    assert shape(refunds["data"]) == ("RECORD", "REPEATED")  # a refund's charge points back: JSON there
    assert {f["name"]: f["type"] for f in refunds["data"]["fields"]}["charge"] == "JSON"
    assert json.loads((dirs[0] / "stripe/_source.json").read_text())["auth"] == \
        {"type": "basic", "secret": "stripe-api"}
    for line in ['review: stripe/customers: date_filter: {"start_param": "created[gte]", "end_param": '
                 '"created[lt]", "format": "epoch_s"} (from created[gte] and created[lt] in the declared '
                 'parameters); filters on creation',
                 "review: stripe/customers: base_url: https://api.stripe.com (from servers[0].url of the "
                 "document)",
                 'review: stripe/customers: auth: {"type": "basic", "secret": "stripe-api"} (from the '
                 "security scheme 'basicAuth' (http basic)); store "
                 '{"username": "...", "password": "..."}',
                 "review: stripe/customers_search: request.params: query is required and has no default"]:
        assert line in out


def test_one_path_of_a_hubspot_like_document_and_its_proposal_reads_every_page(dirs, capsys, httpserver):
    assert cli(["scaffold", "crm/contacts", "--openapi", HUBSPOT, "--path", "/crm/v3/objects/contacts"]) == 0

    out = capsys.readouterr().out
    config, columns = read(dirs, "crm/contacts")
    assert config["pagination"] == {"type": "cursor", "cursor_path": "paging.next.after",
                                    "cursor_param": "after", "size_param": "limit", "page_size": 10}
    assert config["cursor_field"] == "updatedAt" and config["records"] == {"path": "results"}
    assert {n: f["type"] for n, f in columns.items()} == {
        "associations": "JSON", "createdAt": "TIMESTAMP", "archived": "BOOL", "archivedAt": "TIMESTAMP",
        "propertiesWithHistory": "JSON", "id": "STRING", "properties": "JSON", "updatedAt": "TIMESTAMP"}
    source = json.loads((dirs[0] / "crm/_source.json").read_text())
    assert source["base_url"] == "https://api.hubapi.com"  # the server variable's default
    assert source["auth"] == {"type": "oauth2_refresh_token", "token_url": "https://api.hubapi.com/oauth/v1/token",
                              "scope": "crm.objects.contacts.read", "secret": "crm-api"}
    assert "review: date_filter: none (no date parameter seen)" in out
    assert "(from the security scheme 'oauth2' (oauth2 authorizationCode))" in out

    httpserver.expect_request("/crm/v3/objects/contacts").respond_with_handler(hubspot)
    (dirs[0] / "crm/_source.json").write_text(json.dumps({**source, "base_url": httpserver.url_for("")}))
    pages = extract(load_entity("crm/contacts", *dirs))
    assert [r["id"] for p in pages for r in p.records] == [t["id"] for t in THINGS]
    assert [r.args.get("after") for r, _ in httpserver.log] == [None, "10"]


def test_a_stripe_like_proposal_sends_the_parameters_the_api_reads(dirs, httpserver):
    assert cli(["scaffold", "stripe/customers", "--openapi", STRIPE, "--path", "/v1/customers"]) == 0
    httpserver.expect_request("/v1/customers").respond_with_handler(stripe)
    source = json.loads((dirs[0] / "stripe/_source.json").read_text())
    (dirs[0] / "stripe/_source.json").write_text(json.dumps({**source, "base_url": httpserver.url_for("")}))

    pages = extract(load_entity("stripe/customers", *dirs))

    assert [r["id"] for p in pages for r in p.records] == [t["id"] for t in THINGS]
    [(request, _)] = httpserver.log
    assert request.args["limit"] == "100" and "created[gte]" in request.args and "created[lt]" in request.args


def document(schemes: dict | None = None, security: list | None = None, **record: dict) -> dict:
    """A one-endpoint OpenAPI 3.1 document (Shopify REST-like paging and filters) whose records
    have the properties `record`."""
    def query(name: str, **schema) -> dict:
        return {"name": name, "in": "query", "schema": schema}

    response = {"description": "ok", "headers": {"X-Total-Count": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": {
                    "type": "array", "items": {"type": "object", "properties": record}}}}}
    parameters = [query("page", type="integer"), query("per_page", type="integer", maximum=250),
                  query("updated_at_min", type="string", format="date-time"),
                  query("updated_at_max", type="string", format="date-time")]
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": [{"url": "/api/v2"}],
            "components": {"securitySchemes": schemes or {}}, "security": security or [],
            "paths": {"/things": {"get": {"parameters": parameters, "responses": {"200": response}}}}}


def scaffold_document(tmp_path, doc: dict) -> int:
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    return cli(["scaffold", "acme", "--openapi", str(tmp_path / "doc.json")])


def test_column_types_follow_the_response_schema(dirs, tmp_path):
    assert scaffold_document(tmp_path, document(
        id={"type": "integer", "format": "int64"}, ref={"type": ["string", "null"]},
        updated_at={"type": "string", "format": "date-time"}, day={"type": "string", "format": "date"},
        blob={"type": "string", "format": "byte"}, price={"type": "string", "format": "decimal"},
        amount={"type": "number", "multipleOf": 0.01}, ratio={"type": "number", "format": "double"},
        flag={"type": "boolean"}, tags={"type": "array", "items": {"type": "string"}},
        grid={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        extra={"type": "object", "additionalProperties": True},
        headers={"type": "object", "properties": {"Content-Type": {"type": "string"}}},
        owner={"allOf": [{"type": "object", "properties": {"id": {"type": "integer"}}},
                         {"properties": {"email": {"type": "string"}}}]},
        **{"unit-price": {"type": "number"}})) == 0

    config, columns = read(dirs, "acme/things")
    assert {n: shape(f) for n, f in columns.items() if n != "owner"} == {
        "id": ("INT64", "REQUIRED"), "ref": ("STRING", "NULLABLE"), "updated_at": ("TIMESTAMP", "NULLABLE"),
        "day": ("DATE", "NULLABLE"), "blob": ("BYTES", "NULLABLE"), "price": ("NUMERIC", "NULLABLE"),
        "amount": ("NUMERIC", "NULLABLE"), "ratio": ("FLOAT64", "NULLABLE"), "flag": ("BOOL", "NULLABLE"),
        "tags": ("STRING", "REPEATED"), "grid": ("JSON", "NULLABLE"), "extra": ("JSON", "NULLABLE"),
        "headers": ("JSON", "NULLABLE"), "unit_price": ("FLOAT64", "NULLABLE")}
    assert [(f["name"], f["type"]) for f in columns["owner"]["fields"]] == \
        [("id", "INT64"), ("email", "STRING")]
    assert config["records"] == {"path": "", "fields": {"unit_price": "unit-price"}}
    assert config["pagination"] == {"type": "page_number", "page_param": "page", "size_param": "per_page",
                                    "page_size": 250, "total_count_header": "X-Total-Count"}
    assert config["date_filter"] == {"start_param": "updated_at_min", "end_param": "updated_at_max"}
    assert config["cursor_field"] == "updated_at"
    source = json.loads((dirs[0] / "acme/_source.json").read_text())
    assert source["base_url"] == "${ACME_API_URL:-https://api.example.com}/api/v2"  # a relative server


@pytest.mark.parametrize(("scheme", "auth", "stored"), [
    ({"type": "apiKey", "in": "header", "name": "X-Api-Key"},
     {"type": "api_key", "in": "header", "name": "X-Api-Key"}, '{"api_key": "..."}'),
    ({"type": "apiKey", "in": "query", "name": "api_token"},
     {"type": "api_key", "in": "query", "name": "api_token"}, '{"api_key": "..."}'),
    ({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}, {"type": "bearer"}, '{"token": "..."}'),
    ({"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://auth.acme.com/oauth/token",
                                                        "scopes": {"things:read": "", "things:write": ""}}}},
     {"type": "oauth2_client_credentials", "token_url": "https://auth.acme.com/oauth/token",
      "scope": "things:read"}, '{"client_id": "...", "client_secret": "..."}'),
    ({"type": "openIdConnect", "openIdConnectUrl": "https://acme.com/.well-known/openid-configuration"},
     {"type": "none"}, None),
])
def test_the_security_scheme_gives_the_auth_type(dirs, tmp_path, capsys, scheme, auth, stored):
    doc = document({"main": scheme}, [{"main": ["things:read"] if scheme["type"] == "oauth2" else []}],
                   id={"type": "string"})
    assert scaffold_document(tmp_path, doc) == 0

    out = capsys.readouterr().out
    source = json.loads((dirs[0] / "acme/_source.json").read_text())
    assert source["auth"] == ({**auth, "secret": "acme-api"} if stored else auth)
    if stored:
        assert f"in secret 'acme-api' (locally: .local/secrets.json as {{\"acme-api\": {stored}}})" in out
    else:
        assert "review: auth: the security scheme 'main' (openIdConnect) has no auth type here" in out


def test_a_yaml_document_gives_the_same_proposal(dirs, tmp_path):
    import yaml  # requirements-dev.txt: the scaffold is an operator tool, never deployed

    spec = tmp_path / "stripe.yaml"
    spec.write_text(yaml.safe_dump(json.loads((DOCS / "stripe_customers.json").read_text()), sort_keys=False))

    assert cli(["scaffold", "stripe", "--openapi", STRIPE, "--path", "/v1/charges"]) == 0
    from_json = read(dirs, "stripe/charges")
    assert cli(["scaffold", "stripe", "--openapi", str(spec), "--path", "/v1/charges", "--force"]) == 0

    assert read(dirs, "stripe/charges") == from_json


@pytest.mark.parametrize(("args", "error"), [
    (["stripe", "--openapi", STRIPE, "--path", "/v1/balance"],
     "stripe: GET /v1/balance: does not answer a list"),
    (["stripe", "--openapi", STRIPE, "--path", "/v1/nope"],
     "has no path '/v1/nope' (its paths: /v1/customers,"),
    (["stripe", "--openapi", STRIPE, "--schedule", "hourly"],
     "stripe: GET /v1/customers: the proposal does not validate: schedule.cron: 'hourly' does not match"),
    (["stripe/customers", "--openapi", STRIPE], "names one endpoint: add --path, or give <source> alone"),
    (["stripe", "sample.json", "--openapi", STRIPE],
     "give a sample (a JSON file or an http(s) URL) or --openapi"),
    (["stripe", "--openapi", STRIPE, "--header", "X-Key: 1"], "--header and --data are for a sample"),
])
def test_a_bad_request_or_an_invalid_proposal_writes_nothing(dirs, capsys, args, error):
    assert cli(["scaffold", *args]) == 2

    assert error in capsys.readouterr().err
    assert not dirs[0].exists() and not dirs[1].exists()


def test_a_document_that_is_not_openapi_3_is_refused(dirs, tmp_path, capsys):
    (tmp_path / "swagger.json").write_text(json.dumps({"swagger": "2.0", "paths": {}}))

    assert cli(["scaffold", "acme", "--openapi", str(tmp_path / "swagger.json")]) == 2

    assert "is not an OpenAPI 3 document (no `openapi: 3.x`; convert a Swagger 2.0 document first)" in \
        capsys.readouterr().err


def test_existing_files_are_kept_unless_forced(dirs, capsys):
    assert cli(["scaffold", "stripe", "--openapi", STRIPE, "--path", "/v1/charges"]) == 0
    (dirs[0] / "stripe/charges.json").write_text("{}")

    assert cli(["scaffold", "stripe", "--openapi", STRIPE]) == 2
    assert "charges.json already exist(s); --force overwrites" in capsys.readouterr().err
    assert not (dirs[0] / "stripe/customers.json").exists()  # nothing written when one file clashes
    assert (dirs[0] / "stripe/charges.json").read_text() == "{}"

    assert cli(["scaffold", "stripe", "--openapi", STRIPE, "--force"]) == 0
    assert json.loads((dirs[0] / "stripe/charges.json").read_text())["records"] == {"path": "data"}


def test_schemas_that_refer_to_each_other_stay_a_bounded_table(dirs, tmp_path):
    """Thirty schemas, each holding five others: nested RECORDs stop at a depth and a field budget."""
    schemas = {f"S{i}": {"type": "object", "properties": {
        "id": {"type": "string"}, **{f"p{j}": {"$ref": f"#/components/schemas/S{(i * 7 + j) % 30}"}
                                     for j in range(5)}}} for i in range(30)}
    doc = document(id={"type": "string"}, tree={"$ref": "#/components/schemas/S1"})
    doc["components"]["schemas"] = schemas
    assert scaffold_document(tmp_path, doc) == 0

    def count(fields: list[dict]) -> int:
        return sum(1 + count(f.get("fields", [])) for f in fields)

    _, columns = read(dirs, "acme/things")
    assert columns["tree"]["type"] == "RECORD" and 500 < count(list(columns.values())) <= 1002
