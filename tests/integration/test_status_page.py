"""`python -m ingestion status --html` on the local stack, looked at in a real browser: four entities —
fresh, late, failing, never run — with their runs in the ledger; the page is rendered by headless
Chromium (Debian's `chromium`; `make test` installs it where it runs as root) and the test checks the
DOM names every entity with its state, and the screenshot is no blank page: one card per entity in
its state's colour, in order, each card with runs showing a chart (records bars, duration dots) and
red marks exactly where runs failed, and the never-run card no chart at all."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingestion.ops.cli import main
from ingestion.ops.status_html import (
    DURATION_COLOUR,
    FAILED_COLOUR,
    PLOT_COLOUR,
    RECORDS_COLOUR,
    STATE_COLOURS,
)
from ingestion.warehouse.ledger import RunRow, append_run
from tests.support.configs import MINIMAL

INSTALL = "apt-get install -y chromium"
WINDOW = (1200, 2400)
# In config order (sorted names): the state each should be in, and the runs it gets (hours ago,
# status): fresh runs every 6 hours; late stopped 30 hours ago (objective 1 hour) after a failure;
# failing failed after its last success.
ENTITIES = {
    "page/a_fresh": ("OK", "PT12H", [(h, "succeeded") for h in range(66, 0, -6)]),
    "page/b_late": ("LATE", "PT1H", [(h, "succeeded") for h in range(80, 30, -10)] + [(26, "failed")]),
    "page/c_failing": ("FAILING", "PT12H", [(50, "succeeded"), (40, "failed"), (6, "succeeded"),
                                             (2, "failed")]),
    "page/d_never": ("NEVER", "P1D", []),
}


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:  # `make test` installs it; a CI without it must not pass by skipping
        pytest.fail(f"chromium is not installed: {INSTALL} (make test does this where it runs as root)")
    return path


def browse(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on the file, with a profile of its own and no network to speak of."""
    command = [chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--user-data-dir={tmp / 'profile'}",
               "--host-resolver-rules=MAP * ~NOTFOUND", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def matches(image: np.ndarray, colour: str, tolerance: int = 10) -> np.ndarray:
    return (np.abs(image.astype(int) - rgb(colour)) <= tolerance).all(axis=-1)


@pytest.fixture
def ledger(env):
    """The four configs, and their runs in the ledger relative to now."""
    now = datetime.now(UTC)
    for name, (_, freshness, runs) in ENTITIES.items():
        spec = {**MINIMAL, "freshness": freshness,
                "target": {"dataset": f"page_{env.suffix}", "table": name.split("/")[1]}}
        env.write(name, spec, [{"name": "id", "type": "INT64"}])
        for number, (hours, status) in enumerate(runs):
            started = now - timedelta(hours=hours)
            failed = status == "failed"
            append_run(RunRow(
                run_id=uuid.uuid4().hex, entity=name, sync_mode="incremental", status=status,
                records=0 if failed else 400 + 150 * number, rows_merged=0 if failed else 300 + 100 * number,
                started_at=started, finished_at=started + timedelta(seconds=20 + 15 * number),
                error_class="HttpError" if failed else None,
                error_message=f"HTTP 503 from the API <{name}>" if failed else None,
                watermark=None if failed else started - timedelta(minutes=5)), env.settings)
    return now


def test_the_status_page_shows_every_entity_its_state_and_its_runs_in_a_browser(ledger, tmp_path, capsys):
    report = tmp_path / "report.html"
    assert main(["status", "--html", str(report), "--days", "5"]) == 1  # late and failing need attention
    assert f"wrote {report}: 4 entities: 1 OK, 1 LATE, 1 FAILING, 1 NEVER" in capsys.readouterr().out

    dom = browse(report, tmp_path, "--dump-dom").stdout
    cards = re.findall(r'<section class="card" id="e\d+" data-entity="([^"]+)" data-state="([^"]+)"', dom)
    assert cards == [(name, state) for name, (state, _, _) in ENTITIES.items()]
    assert "HTTP 503 from the API &lt;page/c_failing&gt;" in dom  # the last error, as text
    assert "No runs in the last 5 days." in dom

    shot = tmp_path / "page.png"
    browse(report, tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (WINDOW[1], WINDOW[0])
    coloured = (image.max(axis=-1).astype(int) - image.min(axis=-1)) > 60
    text = image.mean(axis=-1) < 120
    assert coloured.mean() > 0.005 and text.mean() > 0.005, "a blank page"

    regions = card_regions(image)
    assert [state for state, _, _ in regions] == [state for state, _, _ in ENTITIES.values()], \
        "one card per entity, in order, in its state's colour"
    for (state, top, bottom), (name, (_, _, runs)) in zip(regions, ENTITIES.items(), strict=True):
        plot = plot_box(image[top:bottom])
        if not runs:
            assert plot is None, f"{name}: a chart without runs"
            continue
        assert plot is not None, f"{name}: no chart"
        y0, y1, x0, x1 = plot
        chart = image[top + y0 - 24:top + y1 + 1, x0 - 4:x1 + 5]  # the failure marks sit above the plot
        assert matches(chart, RECORDS_COLOUR).sum() > 100, f"{name}: no records bars"
        assert matches(chart, DURATION_COLOUR).sum() > 20, f"{name}: no duration dots"
        failures = sum(status == "failed" for _, status in runs)
        marks = marked_columns(matches(chart, FAILED_COLOUR, tolerance=6))
        assert len(marks) == failures, f"{name} ({state}): {len(marks)} failure marks, {failures} failures"


def card_regions(image: np.ndarray) -> list[tuple[str, int, int]]:
    """(state, top row, bottom row) of each card, top to bottom, from the coloured border on its left:
    the column where a state colour runs longest, cut into runs of one colour."""
    masks = {state: matches(image, colour, tolerance=4) for state, colour in STATE_COLOURS.items()}
    column = int(np.argmax(sum(mask.sum(axis=0) for mask in masks.values())[:image.shape[1] // 3]))
    regions = []
    for state, mask in masks.items():
        rows = np.flatnonzero(mask[:, column])
        for run in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1):
            if len(run) > 60:
                regions.append((state, int(run[0]), int(run[-1])))
    return sorted(regions, key=lambda region: region[1])


def plot_box(card: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns of the chart's plot area (its background colour, wide), or None."""
    mask = matches(card, PLOT_COLOUR, tolerance=1)
    rows = np.flatnonzero(mask.sum(axis=1) > card.shape[1] // 3)
    if len(rows) < 50:
        return None
    columns = np.flatnonzero(mask[rows].sum(axis=0) > len(rows) // 4)
    return int(rows[0]), int(rows[-1]), int(columns[0]), int(columns[-1])


def marked_columns(mask: np.ndarray) -> list[int]:
    """The distinct failure triangles: groups of adjacent columns holding the red."""
    columns = np.flatnonzero(mask.sum(axis=0) >= 3)
    if not len(columns):
        return []
    return [int(group[0]) for group in np.split(columns, np.flatnonzero(np.diff(columns) > 2) + 1)]
