"""CPU the processes beside a measured run spent while it ran: the local stack's emulators and the
mock API. On the cloud BigQuery, GCS and the vendor's API run on machines of their own; here they
share the bench machine's cores with the function, so an end-to-end figure is only read right next
to what they took (`python -m bench` prints both). Linux only (/proc); elsewhere nothing is
reported."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# a stack server's label, by a word of its command line
_LABELS = (("bqemulator", "bqemulator"), ("fake-gcs", "fake-gcs-server"), ("fake_gcs", "fake-gcs-server"),
           ("pubsub", "Pub/Sub emulator"))
API = "the mock API"


def label(args: Sequence[str]) -> str:
    """A stack server's name, from the command line it was started with (`Popen.args`)."""
    command = " ".join(map(str, args))
    return next((name for word, name in _LABELS if word in command), Path(str(args[0])).name if args else "?")


def processes() -> dict[int, tuple[int, str, float]]:
    """pid → (session id, command line, CPU seconds so far) of every process we may read."""
    found: dict[int, tuple[int, str, float]] = {}
    if not Path("/proc/self/stat").exists():
        return found
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone since the listing
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session …
        found[int(entry.name)] = (int(fields[3]), command, (int(fields[11]) + int(fields[12])) / tick)
    return found


def spent(before: dict[int, tuple[int, str, float]], after: dict[int, tuple[int, str, float]],
          sessions: dict[int, str]) -> dict[str, float]:
    """CPU seconds between two `processes()` snapshots: each stack server's (every process of the
    session it leads, `sessions`: session id → label) and the mock API's (`python -m bench.api`)."""
    totals: dict[str, float] = {}
    for pid, (session, command, cpu) in after.items():
        name = sessions.get(session) or (API if "-m bench.api" in command else None)
        if name is None:
            continue
        earlier = before.get(pid)
        totals[name] = totals.get(name, 0.0) + cpu - (earlier[2] if earlier else 0.0)
    return {name: round(seconds, 2) for name, seconds in totals.items() if seconds > 0}


def describe(cpu: dict[str, float]) -> str:
    """"bqemulator 1.52 s, fake-gcs-server 0.91 s, the mock API 0.15 s" (the largest first)."""
    largest_first = sorted(cpu.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in largest_first)
