"""`python -m ingestion status --html report.html`: the entities' freshness (ingestion/ops/status.py)
as one page a person would rather look at than read — per entity a card with its state (colour and
word), its age against the objective and its last error, and a chart of the records each run loaded
and how long it took over the last days, failed runs marked.

One self-contained file: inline CSS and SVG, no script, no font or image to fetch (a
Content-Security-Policy says so to the browser), so it opens from a mail attachment or a bucket
without a network. `render` is pure — model in, text out — and escapes every text that comes from
the ledger or the configs; `write_page` reads the model and writes the file.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from ingestion.contract.redact import redact
from ingestion.contract.settings import Settings
from ingestion.ops.status import EntityStatus, RunPoint, read_configs, run_history, statuses
from ingestion.ops.status_report import duration_text, summary_line

DEFAULT_DAYS = 14
# A state's colour; each is also written out as a word, never colour alone.
STATE_COLOURS = {"OK": "#1a7f37", "LATE": "#bf8700", "NEVER": "#6e7781", "FAILING": "#cf222e"}
RECORDS_COLOUR = "#0969da"  # bars: records loaded by a run
DURATION_COLOUR = "#8250df"  # dots and line: how long a run took
FAILED_COLOUR = "#cf222e"  # a failed run: triangle above the plot, line through it
OTHER_COLOUR = "#8c959f"  # skipped runs (nothing loaded: already done, or deferred)
PLOT_COLOUR = "#f6f8fa"  # the chart's plot area

# The chart's geometry, in SVG units (it scales to the card's width).
WIDTH, HEIGHT = 960, 210
LEFT, RIGHT, TOP, BOTTOM = 64, 64, 22, 26
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#eef1f4;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 16px 40px}
header h1{margin:0 0 4px;font-size:22px}
.meta{color:#59636e;margin:0 0 12px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 20px;padding:0;list-style:none}
.chips a{display:inline-flex;align-items:center;gap:6px;padding:3px 10px;border-radius:999px;
background:#fff;border:1px solid #d0d7de;color:inherit;text-decoration:none;font-size:13px}
.dot{width:10px;height:10px;border-radius:50%;display:inline-block}
.problems{background:#ffebe9;border:1px solid #ff8182;border-radius:8px;padding:10px 14px;margin:0 0 20px}
.card{background:#fff;border:1px solid #d0d7de;border-left:10px solid;border-radius:8px;
padding:14px 18px 10px;margin:0 0 18px}
.head{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
.head h2{margin:0;font-size:18px;word-break:break-all}
.badge{color:#fff;font-weight:700;font-size:13px;letter-spacing:.04em;padding:2px 10px;border-radius:4px}
.target{color:#59636e;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
.facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:10px 0 6px;padding:0}
.facts div{min-width:110px}
.facts dt{color:#59636e;font-size:12px}
.facts dd{margin:0;font-weight:600;word-break:break-all}
.meter{position:relative;width:160px;height:8px;background:#eaeef2;border-radius:4px;margin-top:4px}
.meter .fill{position:absolute;left:0;top:0;bottom:0;border-radius:4px}
.meter .mark{position:absolute;left:50%;top:-3px;bottom:-3px;width:2px;background:#1f2328}
.error{background:#ffebe9;border:1px solid #ffcecb;color:#82071e;border-radius:6px;padding:6px 10px;
margin:6px 0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;white-space:pre-wrap;
word-break:break-word;max-height:7.5em;overflow:auto}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;color:#59636e;font-size:12px;margin:8px 0 0}
.legend span{display:inline-flex;align-items:center;gap:5px}
.sw{width:10px;height:10px;display:inline-block}
svg.chart{width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#59636e}
.empty{border:1px dashed #d0d7de;border-radius:6px;color:#59636e;text-align:center;padding:28px;margin:8px 0}
footer{color:#59636e;font-size:12px}
"""
# Nothing leaves the file: no script at all, styles only inline, images only as data.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render(found: list[EntityStatus], history: dict[str, list[RunPoint]], now: datetime,
           days: int = DEFAULT_DAYS, problems: dict[str, str] | None = None) -> str:
    """The page: a summary of the states, then one card per entity in the order given; `history`
    holds each entity's runs of the last `days` (at least 1) days before `now`, oldest first."""
    problems = problems or {}
    chips = "".join(
        f'<li><a href="#e{i}"><span class="dot" style="background:{colour_of(s.state)}"></span>'
        f"{escape(s.entity)} <strong>{escape(s.state)}</strong></a></li>" for i, s in enumerate(found))
    problem_box = "" if not problems else (
        '<section class="problems"><strong>Configs that cannot be read</strong><ul>'
        + "".join(f"<li><code>{escape(name)}</code>: {escape(text)}</li>" for name, text in problems.items())
        + "</ul></section>")
    cards = "".join(card(i, s, history.get(s.entity, []), now, days) for i, s in enumerate(found))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Ingestion status · {stamp(now)}</title><style>{CSS}</style></head><body><main>"
        f'<header><h1>Ingestion status</h1><p class="meta">{escape(summary_line(found))} · as of '
        f"{stamp(now)} · charts: the last {days} day{'s' if days != 1 else ''}</p></header>"
        f'<ul class="chips">{chips}</ul>{problem_box}{cards or "<p>No entity.</p>"}'
        "<footer>python -m ingestion status --html · states: OK (fresh), LATE (older than its objective), "
        "NEVER (no successful run), FAILING (a run failed after the last success)</footer>"
        "</main></body></html>\n")


def card(index: int, status: EntityStatus, runs: list[RunPoint], now: datetime, days: int) -> str:
    colour = colour_of(status.state)
    error = f'<div class="error">{escape(status.last_error)}</div>' if status.last_error else ""
    return (
        f'<section class="card" id="e{index}" data-entity="{escape(status.entity)}" '
        f'data-state="{escape(status.state)}" style="border-left-color:{colour}">'
        f'<div class="head"><span class="badge" style="background:{colour}">{escape(status.state)}</span>'
        f'<h2>{escape(status.entity)}</h2>'
        f'<span class="target">{escape(status.dataset)}.{escape(status.table)}</span></div>'
        f'<dl class="facts">{facts(status)}</dl>{error}{chart(status.entity, runs, now, days)}</section>')


def facts(status: EntityStatus) -> str:
    """Age against the objective (with a meter: the mark is the objective), then the other numbers."""
    if status.age is None:
        age = "never succeeded"
    else:
        age = f"{duration_text(status.age)} / {duration_text(status.objective)}" if status.objective \
            else f"{duration_text(status.age)} (no objective)"
    meter = ""
    if status.age is not None and status.objective:
        share = min(status.age / status.objective, 2.0) / 2.0  # the objective sits at the middle
        fill = STATE_COLOURS["OK"] if status.age <= status.objective else STATE_COLOURS["LATE"]
        meter = (f'<div class="meter"><span class="fill" style="width:{share * 100:.1f}%;background:{fill}">'
                 '</span><span class="mark" title="objective"></span></div>')
    items = [
        ("age / objective", escape(age) + meter),
        ("last success", stamp(status.last_success) if status.last_success else "never"),
        ("runs 24 h", str(status.runs_24h)),
        ("failed 24 h", str(status.failures_24h)),
        ("rows", "no table yet" if status.rows is None else f"{status.rows:,}"),
        ("watermark", escape(status.watermark or "—")),  # last: the longest, it may wrap
    ]
    return "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in items)


def chart(entity: str, runs: list[RunPoint], now: datetime, days: int) -> str:
    """Records per run (bars, left axis) and duration per run (dots, right axis) on a time axis of
    the last `days` days; a failed run is a red triangle and line. Hover: the run's facts."""
    span = f"the last {days} day{'s' if days != 1 else ''}"
    if not runs:
        return f'<div class="empty">No runs in {span}.</div>'
    start = now - timedelta(days=days)
    records_top = nice_ceiling(max(r.records for r in runs))
    durations = [r.duration_seconds for r in runs if r.duration_seconds is not None]
    duration_top = duration_ceiling(max(durations, default=0))

    def x(at: datetime) -> float:
        share = (at - start) / (now - start)
        return LEFT + min(max(share, 0.0), 1.0) * PLOT_W

    def y(value: float, top: float) -> float:
        return TOP + PLOT_H - (value / top) * PLOT_H

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="{PLOT_COLOUR}"/>']
    parts += axes(start, now, days, records_top, duration_top)
    bar = max(2.0, min(10.0, PLOT_W / len(runs) * 0.6))
    dots, line = [], []
    for run in runs:
        cx = x(run.started_at)
        tip = f"<title>{escape(run_text(run))}</title>"
        if run.status == "failed":
            parts.append(
                f'<g class="failed">{tip}<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP}" y2="{TOP + PLOT_H}" '
                f'stroke="{FAILED_COLOUR}" stroke-width="1.5" stroke-dasharray="4 3" opacity="0.6"/>'
                f'<path d="M{cx - 6:.1f},{TOP - 12} h12 l-6,10 z" fill="{FAILED_COLOUR}"/></g>')
        if run.records:
            fill = {"failed": FAILED_COLOUR, "skipped": OTHER_COLOUR}.get(run.status, RECORDS_COLOUR)
            top = y(run.records, records_top)
            parts.append(f'<rect class="bar" x="{cx - bar / 2:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                         f'height="{TOP + PLOT_H - top:.1f}" fill="{fill}">{tip}</rect>')
        if run.duration_seconds is not None:
            point = (cx, y(run.duration_seconds, duration_top))
            line.append(f"{point[0]:.1f},{point[1]:.1f}")
            dots.append(f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="4" fill="{DURATION_COLOUR}">'
                        f"{tip}</circle>")
    if len(line) > 1:
        parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{DURATION_COLOUR}" '
                     'stroke-width="1.5" opacity="0.55"/>')
    parts += dots
    failed = sum(r.status == "failed" for r in runs)
    label = (f"{entity}: {len(runs)} runs in {span}, {failed} failed, "
             f"{sum(r.records for r in runs):,} records loaded")
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
            f'{"".join(parts)}</svg>{legend(runs, span)}')


def axes(start: datetime, now: datetime, days: int, records_top: float, duration_top: float) -> list[str]:
    """Midnight (UTC) gridlines labelled with the date, at most ~14 labels; three ticks on each
    value axis: records on the left in the bars' colour, duration on the right in the dots'."""
    parts = []
    step = max(1, math.ceil(days / 14))
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    number = 0
    while day < now:
        gx = LEFT + (day - start) / (now - start) * PLOT_W
        parts.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{TOP}" y2="{TOP + PLOT_H}" stroke="#d0d7de"/>')
        if number % step == 0:
            parts.append(f'<text x="{gx:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{day:%d %b}</text>')
        day += timedelta(days=1)
        number += 1
    for share in (0.0, 0.5, 1.0):
        gy = TOP + PLOT_H - share * PLOT_H
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#d0d7de" '
                     'stroke-dasharray="2 3"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" style="fill:{RECORDS_COLOUR}">'
                     f"{compact(records_top * share)}</text>")
        parts.append(f'<text x="{LEFT + PLOT_W + 6}" y="{gy + 4:.1f}" style="fill:{DURATION_COLOUR}">'
                     f"{duration_text(timedelta(seconds=duration_top * share))}</text>")
    return parts


def legend(runs: list[RunPoint], span: str) -> str:
    failed = sum(r.status == "failed" for r in runs)
    total = sum(r.records for r in runs)
    return (
        '<div class="legend">'
        f'<span><i class="sw" style="background:{RECORDS_COLOUR}"></i>records loaded per run</span>'
        f'<span><i class="sw dot" style="background:{DURATION_COLOUR}"></i>run duration</span>'
        f'<span><i class="sw" style="background:{FAILED_COLOUR};clip-path:polygon(0 0,100% 0,50% 100%)">'
        f"</i>failed run</span>"
        f"<span>{span}: {len(runs)} run{'s' if len(runs) != 1 else ''}, {failed} failed, "
        f"{total:,} records</span></div>")


def run_text(run: RunPoint) -> str:
    """A run's tooltip: when, how it ended, what it loaded, how long it took, why it failed."""
    took = "still running" if run.duration_seconds is None else \
        duration_text(timedelta(seconds=run.duration_seconds))
    text = (f"{stamp(run.started_at)} · {run.status} · {run.records:,} records, "
            f"{run.rows_merged:,} rows merged · {took}")
    return f"{text}\n{run.error_message}" if run.error_message else text


def colour_of(state: str) -> str:
    return STATE_COLOURS.get(state, OTHER_COLOUR)


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (1 for nothing): a round top for an axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def duration_ceiling(seconds: float) -> float:
    """A round top for the duration axis whose half is round too (its middle tick): 1m, 2m, 4m,
    6m, 10m…; past a day, whole days."""
    tops = (10, 20, 30, 60, 120, 240, 360, 600, 1200, 1800, 3600, 7200, 14400, 21600, 43200, 86400)
    return next((float(t) for t in tops if t >= seconds), 86400.0 * math.ceil(seconds / 86400))


def compact(value: float) -> str:
    """12, 1.5k, 20k, 3M: an axis label that fits."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}".removesuffix(".0") + unit
    return f"{value:.1f}".removesuffix(".0")


def write_page(settings: Settings, names: list[str] | None, path: Path, days: int = DEFAULT_DAYS,
               now: datetime | None = None) -> int:
    """Read the status and the runs of the entities named (default: all), write the page; the exit
    code is the text report's (ingestion/ops/status_report.py): 1 when one needs attention."""
    if days < 1:
        raise ValueError(f"--days {days}: chart at least 1 day")
    now = now or datetime.now(UTC)
    configs, problems = read_configs(settings, names)
    for name, problem in problems.items():
        print(f"ERROR {redact(f'{name}: {problem}')}", file=sys.stderr)
    found = statuses(settings, configs, now)
    history = run_history(settings, [c.name for c in configs], days, now) if configs else {}
    path.write_text(render(found, history, now, days, {n: redact(p) for n, p in problems.items()}))
    print(f"wrote {path}: {summary_line(found)}")
    return 1 if problems or any(s.needs_attention for s in found) else 0
