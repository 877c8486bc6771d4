"""How many pages a known-count walk keeps in flight (ingestion/source/inflight.py): all it may
against a slow API, one (in the run's own thread) when more threads only add CPU."""

from __future__ import annotations

from ingestion.source.inflight import Window
from tests.support.extraction import SlowPages, extract, ids, make_entity


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def walk(window: Window, clock: Clock, seconds_per_page, pages: int) -> list[int]:
    """Take `pages` pages, each arriving after `seconds_per_page(size)`; the sizes seen."""
    sizes = []
    for _ in range(pages):
        clock.now += seconds_per_page(window.size)
        window.took()
        sizes.append(window.size)
    return sizes


def test_a_slow_api_gets_every_request_in_flight_it_may():
    clock = Clock()
    window = Window(8, clock)
    sizes = walk(window, clock, lambda size: 0.05 / size, 1000)  # 50 ms a page: n in flight, n times faster
    assert sizes.index(8) <= 12  # doubling on short stretches: 1, 2, 4, 8 within 0.15 s
    assert sizes.count(8) >= 0.85 * len(sizes)  # left only to probe, ever more rarely


def test_a_walk_bound_by_cpu_stays_at_one_in_flight():
    clock = Clock()
    window = Window(8, clock)
    sizes = walk(window, clock, lambda size: 0.001 * (1 + 0.2 * (size - 1)), 20000)  # threads cost
    assert sizes[-1] == 1
    assert sizes.count(1) >= 0.9 * len(sizes)  # probes up grow rarer, and are undone


def test_a_step_up_that_halves_the_pace_is_undone_after_a_short_stretch():
    # a fast API where a second thread makes each page take twice as long (the lock handed over
    # per page): the walk is 1,000 pages of 1.3 ms; every page taken above one costs 1.3 ms more
    clock = Clock()
    window = Window(8, clock)
    sizes = walk(window, clock, lambda size: 0.0013 * (1 if size == 1 else 2), 1000)
    assert sizes[-1] == 1
    assert sum(size > 1 for size in sizes) <= 60  # two probes of ~0.05 s, not one of a full 0.2 s


def test_a_step_up_a_fifth_slower_is_undone_after_a_short_stretch_too():
    # the milder cost of a second thread (15-40% a page against a loopback API, measured)
    clock = Clock()
    window = Window(8, clock)
    sizes = walk(window, clock, lambda size: 0.0013 * (1 if size == 1 else 1.2), 1000)
    assert sizes[-1] == 1
    assert sum(size > 1 for size in sizes) <= 80  # a full 0.2 s stretch per probe made 162


def test_a_limit_of_one_never_grows():
    clock = Clock()
    window = Window(1, clock)
    assert set(walk(window, clock, lambda size: 0.05 / size, 100)) == {1}


def test_a_slow_known_count_walk_overlaps_its_requests_up_to_the_limit(httpserver):
    with SlowPages(60) as api:  # 50 ms a page
        entity = make_entity(httpserver, base_url=api.url, http={"max_concurrency": 6}, pagination={
            "total_pages_path": "meta.pages", "page_size": 1})
        pages = extract(entity)
    assert ids(pages) == list(range(1, 61))  # in page order
    assert api.peak == 6  # the walk found that every request more in flight made it faster


def test_a_slow_answer_at_the_head_does_not_idle_the_slots_behind_it(httpserver):
    with SlowPages(80, seconds=0.02, slow={40: 0.6}) as api:
        entity = make_entity(httpserver, base_url=api.url, http={"max_concurrency": 4}, pagination={
            "total_pages_path": "meta.pages", "page_size": 1})
        pages = extract(entity)
    assert ids(pages) == list(range(1, 81))  # still in page order
    assert api.peak <= 4
    # While page 40 was answered, the requests behind it kept being sent as slots freed (up to
    # two windows of pages held), not only the three already in flight when it was sent.
    assert api.overlapping[40] >= 5
