"""`date_filter.format: epoch_s_micro` writes window bounds the way Slack reads `oldest`/`latest`:
seconds with exactly six decimals, as text, digit for digit (a float would round them)."""

from __future__ import annotations

from datetime import UTC, datetime

from ingestion.model import Window
from tests.support.extraction import extract, ids, make_entity


def test_window_bounds_reach_the_api_as_seconds_with_six_decimals(httpserver):
    bounds = {"oldest": "1512085950.000216", "latest": "1772928000.000000"}
    httpserver.expect_request("/api/conversations.history", query_string=bounds) \
        .respond_with_json({"messages": [{"id": 1}]})
    window = Window(datetime(2017, 11, 30, 23, 52, 30, 216, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))
    entity = make_entity(httpserver, request={"path": "/conversations.history"}, records={"path": "messages"},
                         pagination={"type": "single"}, date_filter={
                             "start_param": "oldest", "end_param": "latest", "format": "epoch_s_micro"})

    assert ids(extract(entity, windows=(window,))) == [1]


def test_a_placeholder_keeps_the_text_form(httpserver):
    """`"{start}"` alone keeps the value's type: here text, so a JSON body gets a string, not a number."""
    httpserver.expect_request("/api/history", method="POST", json={"oldest": "1772323200.000001"}) \
        .respond_with_json({"messages": [{"id": 2}]})
    window = Window(datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    request = {"path": "/history", "method": "POST", "body": {"oldest": "{start}"}}
    entity = make_entity(httpserver, request=request,
                         records={"path": "messages"}, pagination={"type": "single"},
                         date_filter={"format": "epoch_s_micro"})

    assert ids(extract(entity, windows=(window,))) == [2]
