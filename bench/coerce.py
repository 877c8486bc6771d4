"""Throughput of record → row coercion (ingestion/rows/coerce.py), the CPU cost staging adds per record.

    python -m bench.coerce [records]

Records come from the type-messy catalog simulator (tests/support/apis/catalog.py): timestamps in six
spellings, numbers and booleans as strings, nested string numbers, lone values for lists. The
second figure is the same rows once canonical (what a well-behaved API costs).
"""

from __future__ import annotations

import sys
import time

from ingestion.rows.coerce import row_coercer
from tests.support.apis.catalog import SCHEMA, CatalogApi


def measure(label: str, rows: list[dict], coerce) -> None:
    start = time.perf_counter()
    for row in rows:
        coerce(row)
    elapsed = time.perf_counter() - start
    print(f"{label:>10}: {len(rows):,} records in {elapsed:.2f} s = {len(rows) / elapsed:,.0f} records/s")


def main(count: int = 100_000) -> None:
    api = CatalogApi(count=2000)
    messy = [api.wire(item) for item in api.items.values()]
    messy = (messy * (count // len(messy) + 1))[:count]
    coerce = row_coercer(SCHEMA)
    measure("messy", messy, coerce)
    measure("canonical", [coerce(row) for row in messy], coerce)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
