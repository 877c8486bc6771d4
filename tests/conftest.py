"""Fixtures both kinds of test use: a simulator served on 127.0.0.1 (no emulator needed). The local
Google Cloud stack and its per-test isolation are in tests/integration/conftest.py."""

from __future__ import annotations

import pytest

from local.stack import serve_in_thread


@pytest.fixture
def serve(monkeypatch):
    """serve(app, env_var): run a simulator on 127.0.0.1 and point `env_var` (a base_url) at it."""
    served = []

    def start(app, env_var: str) -> str:
        served.append(serve_in_thread(app))
        monkeypatch.setenv(env_var, served[-1].url)
        return served[-1].url

    yield start
    for item in served:
        item.stop()
