"""BigQuery adapter: datasets, tables, load jobs from GCS, parameterised queries."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from utils.gcp import emulator_kwargs

SchemaFields = Sequence[bigquery.SchemaField]


@functools.cache
def client(project: str | None = None) -> bigquery.Client:
    # BIGQUERY_EMULATOR_HOST is honoured by the client itself; only the credentials need changing.
    return bigquery.Client(project=project, **emulator_kwargs("BIGQUERY_EMULATOR_HOST"))


def schema_from_json(fields: list[dict]) -> list[bigquery.SchemaField]:
    """Fields in the `bq` CLI schema JSON format → SchemaField objects (nested RECORDs included)."""
    return [bigquery.SchemaField.from_api_repr(f) for f in fields]


def ensure_dataset(project: str, dataset: str, location: str) -> None:
    """Create the dataset if it is missing. Look first: deployed, the function may only edit the
    datasets deploy/ made for it, and creating an existing one is then a 403, not a 409."""
    try:
        client(project).get_dataset(f"{project}.{dataset}")
    except NotFound:
        ds = bigquery.Dataset(f"{project}.{dataset}")
        ds.location = location
        client(project).create_dataset(ds, exists_ok=True)


def get_table(table_id: str) -> bigquery.Table | None:
    try:
        return client().get_table(table_id)
    except NotFound:
        return None


def create_table(
    table_id: str,
    schema: SchemaFields,
    partition_field: str | None = None,
    partition_granularity: str = "DAY",
    cluster_by: Sequence[str] | None = None,
    description: str | None = None,
    expires: dt.datetime | None = None,
) -> bigquery.Table:
    """Create the table if it does not exist (existing tables are returned untouched)."""
    table = bigquery.Table(table_id, schema=list(schema))
    if partition_field:
        table.time_partitioning = bigquery.TimePartitioning(
            type_=partition_granularity, field=partition_field
        )
    if cluster_by:
        table.clustering_fields = list(cluster_by)
    table.description = description
    table.expires = expires
    return client().create_table(table, exists_ok=True)


def update_table(table_id: str, **changes: Any) -> bigquery.Table:
    """Patch table properties (`schema=`, `description=`, `clustering_fields=`...) on a fresh copy,
    so the etag matches whatever DDL ran just before."""
    table = client().get_table(table_id)
    for name, value in changes.items():
        setattr(table, name, value)
    return client().update_table(table, list(changes))


_LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


def _ddl_type(field: bigquery.SchemaField) -> str:
    if field.field_type in ("RECORD", "STRUCT"):
        inner = ", ".join(f"`{f.name}` {_ddl_type(f)}{' NOT NULL' if f.mode == 'REQUIRED' else ''}"
                          for f in field.fields)
        kind = f"STRUCT<{inner}>"
    else:  # the API may report legacy names; DDL wants the standard ones
        kind = _LEGACY.get(field.field_type, field.field_type)
    return f"ARRAY<{kind}>" if field.mode == "REPEATED" else kind



def add_column(table_id: str, field: bigquery.SchemaField) -> None:
    """`ALTER TABLE ADD COLUMN IF NOT EXISTS` (idempotent: concurrent runs may both try)."""
    query(f"ALTER TABLE `{table_id}` ADD COLUMN IF NOT EXISTS `{field.name}` {_ddl_type(field)}")


def drop_not_null(table_id: str, column: str) -> None:
    """Relax a REQUIRED column to NULLABLE."""
    query(f"ALTER TABLE `{table_id}` ALTER COLUMN `{column}` DROP NOT NULL")


def load_ndjson_from_gcs(
    uris: Iterable[str], table_id: str, schema: SchemaFields, truncate: bool = True
) -> int:
    """Run a load job of NEWLINE_DELIMITED_JSON objects into `table_id`; returns rows loaded.
    Values the schema does not know (also inside RECORDs) are ignored rather than failing the load."""
    config = bigquery.LoadJobConfig(
        schema=list(schema),
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        ignore_unknown_values=True,
        write_disposition="WRITE_TRUNCATE" if truncate else "WRITE_APPEND",
    )
    job = client().load_table_from_uri(list(uris), table_id, job_config=config)
    job.result()
    return int(job.output_rows or 0)


_KINDS = ((bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (dt.datetime, "TIMESTAMP"),
          (dt.date, "DATE"))  # bool before int: bool is an int subclass


def _kind(value: Any) -> str:
    return next((k for t, k in _KINDS if isinstance(value, t)), "STRING")


def _param(name: str, value: Any):
    """Infer the parameter type from the value (a list is an ARRAY); pass `(TYPE, value)` to force
    the type (e.g. of a NULL)."""
    if isinstance(value, tuple):
        return bigquery.ScalarQueryParameter(name, *value)
    if isinstance(value, list):
        return bigquery.ArrayQueryParameter(name, _kind(value[0]) if value else "STRING", value)
    return bigquery.ScalarQueryParameter(name, _kind(value), value)


def query(sql: str, params: dict[str, Any] | None = None) -> bigquery.QueryJob:
    """Run `sql` with named parameters (`@name`) and wait for it; returns the finished job."""
    config = bigquery.QueryJobConfig(
        query_parameters=[_param(k, v) for k, v in (params or {}).items()]
    )
    job = client().query(sql, job_config=config)
    job.result()
    return job


def delete_table(table_id: str) -> None:
    client().delete_table(table_id, not_found_ok=True)
