"""Raw pages batched into few GCS objects (ingestion/rows/rawpages.py): one write per ~500 pages,
never a batch across a step boundary, a row's `_source_object` naming its page's byte range (what
the API sent, secrets scrubbed), and replay from batches, from older one-object-per-page runs and
from both, whole or by window."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from werkzeug.wrappers import Request, Response

from tests.support.apis import fake_credential, json_response
from tests.support.apis.catalog import CatalogApi
from tests.support.catalog import ENTITY, assert_table_matches_truth, read_lines, rows, runs, setup, sync
from tests.support.delivery import store_secret
from tests.support.rawpages import index, page_bytes, page_range, pages, to_per_page_layout
from utils import bq_helper, gcs_helper

SMALL_PAGES = {"pagination": {"page_size": 1}, "date_filter": {"step": "PT20M"}}  # ~680 pages


def raw_objects(env, run_id: str = "") -> list[str]:
    return gcs_helper.list_paths(env.settings.bucket, f"raw/{ENTITY}/{run_id}")


def test_a_run_of_small_pages_writes_an_object_per_500_pages_not_one_per_page(env, catalog):
    dataset = setup(env, **SMALL_PAGES)

    run = sync(env, ENTITY)

    assert_table_matches_truth(env, dataset, catalog)
    bucket, [ledger] = env.settings.bucket, runs(env)
    objects = raw_objects(env, ledger["run_id"])
    assert run.pages > 500 and run.pages == len(catalog.requests)
    assert [path.rsplit("/", 1)[1] for path in objects] == ["pages-000001.json", "pages-000501.json"]
    listed = pages(bucket, f"raw/{ENTITY}/")
    assert [page["number"] for page in listed] == list(range(1, run.pages + 1))
    for path, count in zip(objects, (500, run.pages - 500), strict=True):
        blob = gcs_helper.client().bucket(bucket).get_blob(path)
        entries = index(bucket, path)
        assert blob.content_type == "application/octet-stream" and blob.metadata["pages"] == str(count)
        assert blob.metadata["window_start"] == min(e["window_start"] for e in entries)
        assert blob.metadata["window_end"] == max(e["window_end"] for e in entries)
        ends = [e["offset"] + e["length"] for e in entries]  # bodies back to back, then the index
        assert [e["offset"] for e in entries] == [0, *ends[:-1]]
        assert int(blob.metadata["index_offset"]) == ends[-1]


class TokenEchoingCatalog(CatalogApi):
    """The catalog API echoing the bearer token in every page (as careless APIs do), keeping
    each body exactly as it sent it."""

    def __init__(self):
        super().__init__()
        self.sent: list[bytes] = []

    def route(self, request: Request) -> Response:
        answer = json.loads(super().route(request).get_data())
        answer["seen_token"] = request.headers.get("Authorization", "")[len("Bearer "):]
        response = json_response(answer)
        self.sent.append(response.get_data())
        return response


def test_a_rows_source_object_is_the_byte_range_of_its_page_as_the_api_sent_it(env, serve):
    token = fake_credential("catalog-token")
    store_secret(env.settings.project, f"catalog-{env.suffix}", {"token": token})
    api = TokenEchoingCatalog()
    api.broken[7] = {"price": "seven euros"}
    serve(api, "CATALOG_API_URL")
    dataset = setup(env, auth={"type": "bearer", "secret": f"catalog-{env.suffix}"},
                    records={"max_rejects": 1})

    run = sync(env, ENTITY)

    assert (run.status, run.rejected, run.pages) == ("succeeded", 1, len(api.sent))
    assert all(token.encode() in body for body in api.sent)
    as_sent = {body.replace(token.encode(), b"REDACTED") for body in api.sent}  # scrubbed, else exact
    loaded = rows(env, dataset)
    assert sorted(loaded) == [n for n in range(1, 21) if n != 7]
    for n, row in loaded.items():
        page = page_bytes(row["_source_object"])  # gcloud storage cat -r FIRST-LAST gs://…
        assert page in as_sent and token.encode() not in page
        assert n in [int(record["id"]) for record in json.loads(page)["data"]]
        bucket, path, number, first, last = page_range(row["_source_object"])
        [entry] = [e for e in index(bucket, path) if e["number"] == number]
        assert (entry["offset"], entry["length"]) == (first, last - first + 1)
    [reject] = read_lines(env, f"rejects/{ENTITY}/")
    page = json.loads(page_bytes(reject["source_object"]))
    assert page["data"][reject["index"]]["price"] == "seven euros"  # the record as sent
    for path, meta in gcs_helper.list_with_metadata(env.settings.bucket, "raw/"):
        assert token not in gcs_helper.read(env.settings.bucket, path)[0].decode() + json.dumps(meta)


def test_a_replay_reads_old_one_object_per_page_runs_and_batches_in_fetch_order(env, catalog):
    dataset = setup(env)
    sync(env, ENTITY)
    [first] = runs(env)
    old = to_per_page_layout(env.settings.bucket, f"raw/{ENTITY}/{first['run_id']}/")
    assert len(old) == first["pages"] > 1 and raw_objects(env, first["run_id"]) == old
    catalog.put(3, name="renamed")
    sync(env, ENTITY)
    original = rows(env, dataset)
    bq_helper.delete_table(f"{env.settings.project}.{dataset}.items")

    replay = sync(env, ENTITY, "replay")

    replayed = rows(env, dataset)
    assert replay.records == sum(r["records"] for r in runs(env)[:2])
    assert {n: {**r, "_source_object": None} for n, r in replayed.items()} == \
        {n: {**r, "_source_object": None} for n, r in original.items()}
    assert replayed[3]["name"] == "renamed" and "/pages-" in replayed[3]["_source_object"]
    uri = replayed[1]["_source_object"]  # item 1 was fetched by the old-layout run only
    assert uri in [gcs_helper.uri(env.settings.bucket, path) for path in old]
    assert b'"item 1"' in gcs_helper.read(env.settings.bucket, uri.split("/", 3)[3])[0]


def test_a_step_boundary_closes_a_batch(env, catalog):
    env.settings = replace(env.settings, step_records=1)  # a step ends after its first window with records
    for n in range(21, 33):  # items until 2026-03-10 08:32: every 3-day window holds some
        catalog.put(n)
    dataset = setup(env)

    run = sync(env, ENTITY)

    assert_table_matches_truth(env, dataset, catalog)
    listed = pages(env.settings.bucket, f"raw/{ENTITY}/")
    by_object = defaultdict(list)
    for page in listed:
        by_object[page["path"]].append(page)
    windows = {(page["window_start"], page["window_end"]) for page in listed}
    assert len(by_object) == len(windows) == 4
    assert [page["number"] for page in listed] == list(range(1, run.pages + 1))
    for path, entries in by_object.items():
        assert len({(e["window_start"], e["window_end"]) for e in entries}) == 1
        assert path.endswith(f"/pages-{entries[0]['number']:06d}.json")


@pytest.mark.parametrize("steps", ["a batch per window", "one batch for all windows"])
def test_a_window_replay_reads_only_the_pages_of_its_window(env, catalog, monkeypatch, steps):
    if steps == "a batch per window":
        env.settings = replace(env.settings, step_records=1)
    dataset = setup(env, records={"path": "data", "fields": {"name": "title"}})  # a bad transform
    sync(env, ENTITY)
    assert {r["name"] for r in rows(env, dataset).values()} == {None}
    setup(env)  # the fix
    start, end = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)
    read, real_read = [], gcs_helper.read
    monkeypatch.setattr(gcs_helper, "read", lambda bucket, path: read.append(path) or real_read(bucket, path))

    replay = sync(env, ENTITY, "replay", start, end)

    repaired = {n for n, r in rows(env, dataset).items() if r["name"] == f"item {n}"}
    in_window = {n for n, i in catalog.truth().items() if start <= i["updated_at"] < end}
    assert repaired == in_window and 0 < len(repaired) < 20 and replay.records == len(in_window)
    raw_read = [path for path in read if path.startswith("raw/")]
    if steps == "a batch per window":  # the others are skipped by their metadata, never read
        assert len(raw_read) == 1 < len(raw_objects(env))
        starts = {e["window_start"] for e in index(env.settings.bucket, raw_read[0])}
        assert starts == {"2026-03-04T00:00:00Z"}
    else:
        assert raw_read == raw_objects(env)
