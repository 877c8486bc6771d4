"""Rows, layer 3: records turned into rows of the table's types (coercion, compiled per entity),
staged to GCS as raw pages, NDJSON parts and rejects, and replayed from the raw pages.

Imports: layers 0–2 (`source` for response formats and the JSON codec), `utils` (GCS).
"""
