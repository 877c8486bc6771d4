"""Rows, layer 3: records turned into rows of the table's types (coercion, compiled per entity),
left out on purpose (window, filters), split into child rows and tombstones, staged to GCS as raw
pages, NDJSON parts and rejects, and replayed from the raw pages.

Imports: layers 0–2 (`source` for response formats and the JSON codec; `warehouse` to add the
columns of new record fields before a step loads), `utils` (GCS, BigQuery).
"""
