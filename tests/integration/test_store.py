"""Compare-and-swap of JSON documents in GCS (state, jobs and leases all go through it), against
fake-gcs-server, which enforces generation preconditions as GCS does."""

from __future__ import annotations

import pytest

from ingestion.contract.errors import RetryableError
from ingestion.planning.store import read_json, update_json, write_json


def test_a_lost_race_is_retried_on_top_of_the_winner(env):
    bucket, path = env.settings.bucket, "state/x.json"
    write_json(bucket, path, {"seen": ["a"]}, if_generation_match=0)
    calls = []

    def add_b(current):
        calls.append(list(current["seen"]))
        if len(calls) == 1:  # another run writes between our read and our write
            write_json(bucket, path, {"seen": [*current["seen"], "c"]}, read_json(bucket, path)[1])
        return {"seen": [*current["seen"], "b"]}

    written, generation = update_json(bucket, path, add_b, "the test state")

    assert calls == [["a"], ["a", "c"]]  # re-read after losing, then applied on top
    assert read_json(bucket, path) == ({"seen": ["a", "c", "b"]}, generation) and written["seen"][-1] == "b"


def test_endless_contention_gives_up_with_a_retryable_error(env):
    bucket, path = env.settings.bucket, "jobs/x.json"
    write_json(bucket, path, {"n": 0}, if_generation_match=0)

    def always_overtaken(current):
        document, generation = read_json(bucket, path)
        write_json(bucket, path, {"n": document["n"] + 1}, generation)
        return {"n": -1}

    with pytest.raises(RetryableError, match="could not update job x after 3 concurrent-write"):
        update_json(bucket, path, always_overtaken, "job x", attempts=3)
    assert read_json(bucket, path)[0] == {"n": 3}  # theirs all kept, ours never half-written


def test_a_document_that_does_not_exist_is_created_once(env):
    bucket, path = env.settings.bucket, "leases/x.json"
    written, _ = update_json(bucket, path, lambda current: {"was": current}, "the lease")
    assert written == {"was": None} and read_json(bucket, path)[0] == {"was": None}
