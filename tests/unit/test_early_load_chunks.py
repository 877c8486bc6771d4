"""Load while extracting (ingestion/warehouse/load.py `EarlyLoads`): every load job takes the parts
waiting into a chunk table of its own, and a chunk holds at least an eighth of what is already
loaded, so a step's chunks grow with it instead of being one per part. The loads are
recorded here (the rule is what is tested; tests/integration/test_load_while_extracting.py runs
them against the emulator)."""

from __future__ import annotations

import time
from concurrent.futures import Future

from ingestion.contract.settings import Settings
from ingestion.model import Staging
from ingestion.warehouse import load

PART = 2**20


class Entity:
    class target:
        dataset, table = "d", "items"

    name = "shop/items"


def uploaded() -> Future:
    done = Future()
    done.set_result(1)
    return done


def recorded_loads(mocker) -> list[tuple[int, list[str]]]:
    jobs = []

    def load_staging(entity, settings, run_id, uris, chunk=None):
        jobs.append((chunk, list(uris)))
        return Staging((load.staging_table_id(entity, settings, run_id, chunk),))

    mocker.patch.object(load, "load_staging", load_staging)
    mocker.patch.object(load, "EARLY_LOAD_BYTES", PART)
    return jobs


def test_each_job_loads_a_chunk_of_its_own_and_the_chunks_grow_with_the_step(mocker):
    jobs = recorded_loads(mocker)
    loads = load.EarlyLoads(Entity, Settings(project="p", bucket="b"), "run1")
    for number in range(60):
        loads.add(uploaded(), f"gs://b/part-{number:03d}.jsonl", PART)
        time.sleep(0.01)  # the loader is idle again before the next part comes
    staging = loads.finish()

    assert [uri for _, uris in jobs for uri in uris] == [f"gs://b/part-{n:03d}.jsonl" for n in range(60)]
    assert [chunk for chunk, _ in jobs] == list(range(len(jobs)))
    assert staging.tables == tuple(f"p.d._stg_items_run1_c{n:03d}" for n in range(len(jobs)))
    assert len(jobs) <= 25  # one job per part would make 60 tables for the MERGE to read
    loaded = 0
    for _, uris in jobs[:-1]:  # the last one takes whatever is left when the step ends
        assert len(uris) >= max(1, loaded / 8)
        loaded += len(uris)


def test_a_step_without_parts_makes_no_staging_table(mocker):
    jobs = recorded_loads(mocker)
    loads = load.EarlyLoads(Entity, Settings(project="p", bucket="b"), "run1")

    assert loads.finish() is None and jobs == []


def test_staging_of_several_chunks_is_read_as_their_union():
    assert Staging(("p.d.a",)).relation == "`p.d.a`"
    assert Staging(("p.d.a", "p.d.b")).relation == "(SELECT * FROM `p.d.a` UNION ALL SELECT * FROM `p.d.b`)"
