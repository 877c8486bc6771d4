"""`${NAME}` variables in configs: the ones no test environment sets, and a way to be sure of it."""

from __future__ import annotations

# Variables no test environment sets.
UNSET = ("ACME_HOST", "ACME_TENANT", "ACME_START", "CATALOG_TENANT", "CATALOG_REGION", "CATALOG_START",
         "SHOP_START")


def unset_all(monkeypatch) -> None:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
