"""Load while extracting (ingestion/warehouse/load.py `EarlyLoads`): a step's NDJSON parts are
loaded into staging chunk tables while later pages are still being fetched, and the table ends up
exactly as the API's truth (a key whose versions landed in different chunks too), with no staging
table left; a step below the early-load threshold loads once, at its end; a step that may add
columns loads after extraction, as before. (Parts and the threshold are shrunk to a page's size.)"""

from __future__ import annotations

import time

from werkzeug.wrappers import Request, Response

from ingestion.rows import stage
from ingestion.warehouse import load
from tests.support.apis import SimApi, fake_credential, json_response
from tests.support.catalog import sync
from tests.support.delivery import store_secret
from tests.support.tables import table
from utils import bq_helper

TOKEN = fake_credential("slowtail")
ENTITY = "slowtail/items"
SCHEMA = [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"},
          {"name": "updated_at", "type": "TIMESTAMP"}]
PAGES, PER_PAGE = 6, 20


class SlowTailApi(SimApi):
    """Six pages; before answering the last one, it waits (up to `patience` s) until the run's staging
    table holds rows, and notes whether it did: only a run that loads while it extracts has any."""

    def __init__(self, staging_prefix: str):
        super().__init__()
        self.staging_prefix, self.staging_rows_seen, self.patience = staging_prefix, None, 20.0
        self.items = [{"id": n, "name": f"item {n}", "updated_at": f"2026-03-0{1 + n % 5}T10:00:00Z"}
                      for n in range(1, PAGES * PER_PAGE + 1)]

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return json_response({"error": "unauthorized"}, 401)
        page = int(request.args.get("page", 1))
        if page == PAGES:
            self.staging_rows_seen = self.wait_for_staging_rows()
        chosen = self.items[(page - 1) * PER_PAGE:page * PER_PAGE]
        return json_response({"data": chosen, "meta": {"total_pages": PAGES}})

    def wait_for_staging_rows(self) -> int:
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            dataset = bq_helper.client().list_tables(self.staging_prefix.split(".")[1])
            staging = [t for t in dataset if t.table_id.startswith("_stg_items_")]
            if staging:
                [count] = next(iter(bq_helper.query(
                    f"SELECT COUNT(*) FROM `{self.staging_prefix}.{staging[0].table_id}`").result()))
                if count:
                    return count
            time.sleep(0.2)
        return 0


def setup(env, serve, mocker, early_load_bytes: int = 1000, **changes) -> tuple[SlowTailApi, str]:
    dataset = f"slowtail_{env.suffix}"
    api = SlowTailApi(f"{env.settings.project}.{dataset}")
    serve(api, "SLOWTAIL_API_URL")
    store_secret(env.settings.project, "slowtail-api", {"token": TOKEN})
    env.write(ENTITY, {
        "base_url": "${SLOWTAIL_API_URL}", "start_date": "2026-03-01",
        "auth": {"type": "bearer", "secret": "slowtail-api", "token_key": "token"},
        "http": {"max_retries": 0},
        "request": {"path": "/v1/items"}, "records": {"path": "data"},
        "pagination": {"type": "page_number", "page_param": "page", "total_pages_path": "meta.total_pages"},
        "cursor_field": "updated_at", "merge_keys": ["id"],
        "target": {"dataset": dataset, "table": "items"}, **changes,
    }, SCHEMA)
    mocker.patch.object(stage, "PART_BYTES", 1000)  # a part every page: small enough to see it loaded
    mocker.patch.object(load, "EARLY_LOAD_BYTES", early_load_bytes)  # 1000: loaded once uploaded
    return api, dataset


def test_parts_are_loaded_while_later_pages_are_fetched(env, serve, mocker):
    api, dataset = setup(env, serve, mocker)

    result = sync(env, ENTITY)

    assert result.status == "succeeded" and result.pages == PAGES
    assert api.staging_rows_seen  # the first pages' rows were in staging before the last page was sent
    assert set(table(env, dataset, "items", "id")) == {item["id"] for item in api.items}


def test_a_key_whose_versions_are_in_different_chunks_ends_at_the_newest(env, serve, mocker):
    api, dataset = setup(env, serve, mocker)
    api.items[-1] = {"id": 1, "name": "item 1, renamed", "updated_at": "2026-03-09T10:00:00Z"}  # last page

    assert sync(env, ENTITY).status == "succeeded"
    assert api.staging_rows_seen  # page 1's version was loaded before page 6 was even sent
    rows = table(env, dataset, "items", "id")
    assert set(rows) == {item["id"] for item in api.items}
    assert rows[1]["name"] == "item 1, renamed"
    assert not [t.table_id for t in bq_helper.client().list_tables(dataset) if t.table_id.startswith("_stg_")]


def test_an_entity_that_may_add_columns_loads_after_extracting(env, serve, mocker):
    api, dataset = setup(env, serve, mocker, schema={"on_new_field": "add_column"})
    api.patience = 2.0

    assert sync(env, ENTITY).status == "succeeded"
    assert api.staging_rows_seen == 0  # its rows are loaded once the step knows every new field
    assert set(table(env, dataset, "items", "id")) == {item["id"] for item in api.items}


def test_a_step_smaller_than_the_early_load_threshold_loads_once_at_its_end(env, serve, mocker):
    api, dataset = setup(env, serve, mocker, early_load_bytes=100 * 1000)  # six parts stay below it
    api.patience = 2.0

    assert sync(env, ENTITY).status == "succeeded"
    assert api.staging_rows_seen == 0  # no load job before the last page: one job, after extracting
    assert set(table(env, dataset, "items", "id")) == {item["id"] for item in api.items}
