"""Extension points register themselves: a class that sets `type = "<name>"` is added to its
base class's registry when its module is imported, so a new style is one class (plus its schema
branch, one doc row and a test; tests/unit/test_registries.py checks that the four agree)."""

from __future__ import annotations

from typing import Any


class Registry(dict[str, type]):
    """`type` name → class, for one extension point (paginators, auth types, formats…)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def add(self, cls: type) -> None:
        if "type" in cls.__dict__:
            if cls.type in self and self[cls.type] is not cls:
                raise TypeError(f"two {self.kind} classes claim type {cls.type!r}")
            self[cls.type] = cls

    def build(self, type_name: str, *args: Any, **options: Any) -> Any:
        """An instance of the class registered for `type_name`, from the config's named options."""
        return self[type_name](*args, **options)
