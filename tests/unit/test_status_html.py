"""The status page (ingestion/ops/status_html.py) from fabricated status and runs: every text from the
ledger or a config is escaped, the page fetches nothing, each entity shows its state as a word in its
colour, failed runs are marked on the chart where they happened, and an entity without runs (or never
run) gets a card that says so instead of an empty chart. How it looks in a browser:
tests/integration/test_status_page.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from ingestion.ops.status import EntityStatus, RunPoint
from ingestion.ops.status_html import FAILED_COLOUR, LEFT, PLOT_W, STATE_COLOURS, render

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)> "quoted" \'single\''


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())]


class Tree(HTMLParser):
    """The page as a browser's parser sees it: elements, attributes (unescaped) and text."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data):
        self.stack[-1].text.append(data)


def status(entity: str = "shop/orders", state: str = "OK", age: timedelta | None = 2 * HOUR,
           objective: timedelta | None = 12 * HOUR, **changes) -> EntityStatus:
    values = dict(entity=entity, dataset="shop", table=entity.split("/")[-1], objective=objective,
                  last_success=None if age is None else NOW - age, watermark="2026-03-14T09:00:00Z",
                  age=age, state=state, last_error=None, rows=1234, runs_24h=3, failures_24h=0)
    return EntityStatus(**{**values, **changes})


def run(hours_ago: float, status: str = "succeeded", records: int = 500, seconds: float | None = 42,
        error: str | None = None) -> RunPoint:
    started = NOW - timedelta(hours=hours_ago)
    finished = None if seconds is None else started + timedelta(seconds=seconds)
    return RunPoint(started_at=started, finished_at=finished, duration_seconds=seconds, records=records,
                    rows_merged=records, status=status, error_message=error)


def page(found, history, days=14, problems=None) -> Node:
    return Tree(render(found, history, NOW, days, problems)).root


def card_of(root: Node, entity: str) -> Node:
    (card,) = root.find("section", **{"data-entity": entity})
    return card


def test_text_from_the_ledger_and_configs_is_escaped():
    entity = f'shop/x"><b onclick=alert(1)>{HOSTILE}'
    found = [status(entity, "FAILING", dataset=HOSTILE, watermark=HOSTILE, last_error=HOSTILE)]
    root = page(found, {entity: [run(30, "failed", 0, error=HOSTILE), run(20)]},
                problems={f"bad/{HOSTILE}": HOSTILE})
    elements = list(root.walk())
    assert not [n for n in elements if n.tag in ("script", "img", "b")]
    assert not [(n.tag, name) for n in elements for name in n.attrs if name.startswith("on")]
    card = card_of(root, entity)  # the name survives intact, as text and as the attribute
    assert card.find("h2")[0].all_text() == entity
    assert HOSTILE in card.find("div", **{"class": "error"})[0].all_text()
    assert any(HOSTILE in t.all_text() for t in card.find("title"))  # the failed run's tooltip
    assert HOSTILE in root.find("section", **{"class": "problems"})[0].all_text()


def test_the_page_fetches_nothing_and_runs_no_script():
    text = render([status()], {"shop/orders": [run(5)]}, NOW)
    root = Tree(text).root
    (policy,) = root.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert policy.attrs["content"].startswith("default-src 'none'")
    assert not root.find("script") and not root.find("link") and "@import" not in text and "url(" not in text
    links = [v for n in root.walk() for k, v in n.attrs.items() if k in ("src", "href", "xlink:href")]
    assert links and all(v.startswith("#") for v in links)  # in-page anchors only


def test_each_entity_shows_its_state_as_a_word_in_its_colour_in_the_order_given():
    found = [status("s/ok"), status("s/late", "LATE", age=40 * HOUR, objective=24 * HOUR),
             status("s/failing", "FAILING", last_error="HTTP 500"), status("s/never", "NEVER", age=None)]
    root = page(found, {})
    cards = root.find("section", **{"class": "card"})
    assert [c.attrs["data-entity"] for c in cards] == ["s/ok", "s/late", "s/failing", "s/never"]
    for card, state in zip(cards, ["OK", "LATE", "FAILING", "NEVER"], strict=True):
        (badge,) = card.find("span", **{"class": "badge"})
        assert badge.all_text() == state
        assert STATE_COLOURS[state] in badge.attrs["style"] and STATE_COLOURS[state] in card.attrs["style"]
    late = card_of(root, "s/late").all_text()
    assert "1d16h / 1d00h" in late  # age against the objective
    assert "HTTP 500" in card_of(root, "s/failing").all_text()
    assert "1 OK, 1 LATE, 1 FAILING, 1 NEVER" in root.find("header")[0].all_text()


def test_failed_runs_are_marked_where_they_happened_with_their_error():
    runs = [run(200), run(150, "failed", 0, error="HTTP 401 token expired"), run(100),
            run(50, "failed", 0, error="HTTP 503"), run(10, "skipped", 0)]
    card = card_of(page([status()], {"shop/orders": runs}), "shop/orders")
    (svg,) = card.find("svg")
    failed = svg.find("g", **{"class": "failed"})
    assert [g.find("title")[0].all_text().splitlines()[-1] for g in failed] == ["HTTP 401 token expired",
                                                                                "HTTP 503"]
    assert all(g.find("path")[0].attrs["fill"] == FAILED_COLOUR for g in failed)
    expected = [LEFT + (1 - hours / (14 * 24)) * PLOT_W for hours in (150, 50)]
    marks = [float(g.find("line")[0].attrs["x1"]) for g in failed]
    assert marks == [round(x, 1) for x in expected]
    assert len(svg.find("rect", **{"class": "bar"})) == 2  # the succeeded runs' records
    assert len(svg.find("circle")) == 5  # every finished run's duration
    assert "5 runs, 2 failed, 1,000 records" in card.all_text()


def test_a_run_without_failures_has_no_failure_mark():
    svg = card_of(page([status()], {"shop/orders": [run(30), run(6)]}), "shop/orders").find("svg")[0]
    assert svg.find("g", **{"class": "failed"}) == []
    assert FAILED_COLOUR not in [n.attrs.get("fill") for n in svg.walk()]


def test_no_runs_in_the_window_says_so_instead_of_an_empty_chart():
    card = card_of(page([status()], {"shop/orders": []}, days=3), "shop/orders")
    assert card.find("svg") == []
    assert "No runs in the last 3 days." in card.all_text()
    assert "1,234" in card.all_text()  # the facts are still there


def test_an_entity_never_run_says_never_and_has_no_table_yet():
    found = [status("s/new", "NEVER", age=None, objective=None, rows=None, watermark=None, runs_24h=0)]
    card = card_of(page(found, {}), "s/new")
    text = card.all_text()
    assert "never succeeded" in text and "no table yet" in text and "No runs in the last 14 days." in text
    assert card.find("div", **{"class": "meter"}) == []  # no age, nothing to measure


def test_a_run_still_going_has_a_bar_but_no_duration():
    svg = card_of(page([status()], {"shop/orders": [run(3, "continued", 800, seconds=None)]}),
                  "shop/orders").find("svg")[0]
    assert len(svg.find("rect", **{"class": "bar"})) == 1 and svg.find("circle") == []
    assert "still running" in svg.find("rect", **{"class": "bar"})[0].all_text()


def test_the_chart_spans_the_days_asked_for():
    svg = card_of(page([status()], {"shop/orders": [run(30)]}, days=3), "shop/orders").find("svg")[0]
    labels = [t.all_text() for t in svg.find("text") if t.attrs.get("text-anchor") == "middle"]
    assert labels == ["12 Mar", "13 Mar", "14 Mar"]  # the midnights inside the last 3 days


def test_days_below_one_is_refused_before_anything_is_read(tmp_path, monkeypatch, capsys):
    from ingestion.ops.cli import main

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "nowhere")
    assert main(["status", "--html", str(tmp_path / "status.html"), "--days", "0"]) == 1
    assert "--days 0: chart at least 1 day" in capsys.readouterr().err
    assert not (tmp_path / "status.html").exists()
