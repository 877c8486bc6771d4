"""Importing the function module (a cold start) loads none of the heavy client libraries: they are
imported by the first message. Timings are the benchmark's business (`make bench`); this checks
the property that makes the import fast, and that the first message still works."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from ingestion.contract.settings import ROOT

HEAVY = ["google.cloud.bigquery", "google.cloud.storage", "google.cloud.pubsub_v1",
         "google.cloud.secretmanager", "jsonschema", "orjson"]


def test_importing_the_function_module_loads_no_client_library():
    code = ("import json, sys; sys.path.insert(0, 'functions'); import main; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.splitlines()[-1]) == []


ARENAS = """
import ctypes, os, sys, tempfile, threading
if sys.argv[1] == 'function':
    sys.path.insert(0, 'functions')
    import main  # the deployed module, as the server loads it
    from ingestion.run.entrypoint import pipeline
    first = threading.Thread(target=pipeline)  # the first message, on one of the server's threads
    first.start()
    first.join()
ready, done = threading.Barrier(9), threading.Event()
def thread():
    buffer = bytearray(64_000)  # from malloc: the thread's arena
    ready.wait()
    done.wait()
for _ in range(8):
    threading.Thread(target=thread, daemon=True).start()
ready.wait(timeout=60)
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
handle, path = tempfile.mkstemp()
try:
    stream = libc.fdopen(handle, b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(open(path).read().count('<heap nr='))
finally:
    done.set()
    os.unlink(path)
"""


def malloc_arenas(process: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", ARENAS, process], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return int(out.splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_the_functions_threads_share_two_malloc_arenas():
    """Each thread's own arena kept its freed upload buffers: a million-record run peaked ~60 MB
    higher than a 100k one. In the function's process (its first message handled on a worker
    thread, as the server does), eight busy threads share two arenas."""
    assert malloc_arenas("plain") >= 8  # glibc's default: an arena per thread (up to 8 per core)
    assert malloc_arenas("function") <= 2
