"""Fault injection: a process that dies at a chosen call, with no Python cleanup."""

from __future__ import annotations

import importlib


class SimulatedCrash(BaseException):
    """The process dies here (killed at the time limit, out of memory): no Python cleanup runs,
    just as none would. BaseException, so `except Exception` handlers do not see it either."""


def crash_on_call(mocker, target: str, call: int = 1) -> None:
    """Patch `module.function` so its `call`-th call dies instead of running."""
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    real, calls = getattr(module, name), []

    def maybe_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise SimulatedCrash(target)
        return real(*args, **kwargs)

    mocker.patch.object(module, name, side_effect=maybe_crash)
