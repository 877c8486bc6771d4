"""Fan-out: an entity that runs once per item (tenant, account, license…). Items come from a list
in the config, from a parent endpoint, or from a column of a parent entity's loaded table."""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import NotFound

from ingestion.contract.config import EntityConfig, load_entity
from ingestion.contract.errors import ApiError, ConfigError
from ingestion.contract.jsonpath import dig
from ingestion.contract.sections import FromEndpoint, FromEntity
from ingestion.contract.settings import Settings
from ingestion.source.fetch import Fetcher
from ingestion.source.httprequest import build_request
from ingestion.source.pagination import make_paginator
from ingestion.source.records import records_at
from ingestion.warehouse.load import target_table_id
from utils import bq_helper

NO_FAN_OUT: list[Any] = [None]


def resolve_items(entity: EntityConfig, settings: Settings, fetcher: Fetcher) -> list[Any]:
    """The items to run for, de-duplicated in first-seen order; `[None]` without fan-out."""
    spec = entity.fan_out
    if not spec:
        return NO_FAN_OUT
    if spec.items is not None:
        items = list(spec.items)
    elif spec.from_endpoint is not None:
        items = items_from_endpoint(entity, spec.from_endpoint, fetcher)
    else:
        items = items_from_entity(spec.from_entity, settings)
    return list(dict.fromkeys(i for i in items if i not in (None, "")))


def items_from_endpoint(entity: EntityConfig, spec: FromEndpoint, fetcher: Fetcher) -> list[Any]:
    paginator = make_paginator(spec.pagination)
    request = paginator.first(build_request(entity.base_url, spec.request, {}))
    items: list[Any] = []
    while request is not None:
        response = fetcher.page(request)
        records = records_at(response.body, spec.records_path, response.url)
        for record in records:
            value = dig(record, spec.value_path, None) if spec.value_path else record
            if isinstance(value, dict | list):
                raise ApiError(f"fan-out: value_path {spec.value_path!r} of an item from "
                               f"{response.url} is not a single value: {str(value)[:100]}")
            items.append(value)
        request = paginator.next(request, response)
    return items


def items_from_entity(spec: FromEntity, settings: Settings) -> list[Any]:
    parent = load_entity(spec.entity, settings.config_dir, settings.schema_dir)
    column = spec.column
    if column not in parent.columns:
        raise ConfigError(f"fan_out.from_entity: {column!r} is not a column of {parent.name}")
    table = target_table_id(parent, settings)
    try:
        job = bq_helper.query(f"SELECT DISTINCT `{column}` AS item FROM `{table}` "
                              f"WHERE `{column}` IS NOT NULL ORDER BY 1")
        return [row.item for row in job.result()]
    except NotFound:
        raise ConfigError(f"fan_out.from_entity: {parent.name} has not been loaded yet "
                          f"(no table {table}); run it first") from None
