"""Credentials this process never registered are still masked by their shape (an Authorization
header, a Bearer/Basic credential, `api_key=`, a `"password": "…"` field), whatever their case;
text with none of the shapes' words skips the patterns and comes back unchanged."""

from __future__ import annotations

import pytest

from ingestion.contract.redact import _GENERIC, MASK, _may_hold_credential, redact

LEAKS = [
    ("Authorization: Bearer eyJhbGciOi.unregistered", "eyJhbGciOi"),
    ("proxy-AUTHORIZATION=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("upstream said: token rejected (Bearer pat-na1-0f3e9a)", "pat-na1-0f3e9a"),
    ("GET /v1/items?API_KEY=live_51Habc&page=2", "live_51Habc"),
    ("GET /v1/items?Access_Token=EAAB9x&page=2", "EAAB9x"),
    ('{"client_secret": "s3cr3t-value", "id": 7}', "s3cr3t-value"),
    ('{"Password":"hunter22"}', "hunter22"),
    ("Zürich upload failed: refresh_token=1//0gAbc", "1//0gAbc"),  # not ASCII: the patterns always run
    ("ſecret=visible-once", "visible-once"),  # the long s matches s case-insensitively
]


@pytest.mark.parametrize("text, credential", LEAKS)
def test_a_credential_in_a_known_shape_is_masked_whatever_its_case(text, credential):
    assert credential not in redact(text) and MASK in redact(text)


@pytest.mark.parametrize("text", [t for t, _ in LEAKS] + [
    "Basic abcdefgh", "Bearer abcdefgh", "x-Authorization: y", "PASSWD=1", "apikey=2", "assertion=3"])
def test_every_text_a_shape_matches_is_searched_for_it(text):
    assert any(pattern.search(text) for pattern, _ in _GENERIC)  # the sample is a credential shape
    assert _may_hold_credential(text)


def test_text_with_none_of_the_words_is_left_as_it_is():
    url = "https://api.example.com/v1/items?page=123&per_page=100&updated_since=2026-01-01T00:00:00Z"
    assert not _may_hold_credential(url)
    assert redact(url) == url
