"""A valid entity config (`acme/items`, without its `_source.json`) and its schema: the config
contract tests change them field by field, the extraction tests point them at a local server."""

from __future__ import annotations

from ingestion.contract.config import EntityConfig, deep_merge

SCHEMA = [
    {"name": "id", "type": "INT64", "mode": "REQUIRED"},
    {"name": "name", "type": "STRING"},
    {"name": "updated_at", "type": "TIMESTAMP"},
    {"name": "created_on", "type": "DATE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "owner", "type": "RECORD", "fields": [{"name": "id", "type": "STRING"}]},
]
ENTITY = {
    "request": {"path": "/items"},
    "records": {"path": "data"},
    "pagination": {"type": "page_number", "page_param": "page", "page_size": 50,
                   "size_param": "limit"},
    "date_filter": {"start_param": "since", "format": "iso_date"},
    "cursor_field": "updated_at",
    "merge_keys": ["id"],
    "target": {"table": "items", "partition": {"field": "created_on"}, "cluster_by": ["name"]},
}

MINIMAL = {"base_url": "https://api.example.com", "start_date": "2026-01-01", "merge_keys": ["id"],
           "request": {"path": "/items"}, "records": {"path": "data"}, "pagination": {"type": "single"},
           "target": {"dataset": "acme", "table": "items"}}


def entity_config(spec: dict | None = None, fields: list[dict] | None = None,
                  name: str = "acme/items") -> EntityConfig:
    """A parsed entity (schema defaults applied): a minimal valid config with `spec` merged in."""
    fields = fields or [{"name": "id", "type": "INT64"}]
    return EntityConfig.parse(name, deep_merge(MINIMAL, spec or {}), fields)
