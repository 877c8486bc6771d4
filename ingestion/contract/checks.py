"""Cross-checks of one entity config, each a function returning its problems (the JSON Schema
cannot express them): incremental and history settings, formats against pagination, paths,
filters, placeholders, GraphQL requests. `ingestion/contract/config.py` `cross_check` runs them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ingestion.contract.jsonpath import PathSyntaxError, compile_path
from ingestion.contract.placeholders import placeholders_in
from ingestion.contract.sections import IncrementalSpec

if TYPE_CHECKING:
    from ingestion.contract.config import EntityConfig


def incremental_problems(entity: EntityConfig) -> list[str]:
    """`incremental` reads the cursor; a sequence cursor has no dates to plan windows with."""
    spec = entity.incremental
    if spec == IncrementalSpec():
        return []
    if not entity.cursor_field:
        return ["incremental: needs cursor_field (the column it compares)"]
    problems = []
    if spec.sequence and entity.date_filter is not None:
        problems.append(f"incremental.cursor_type {spec.cursor_type}: a date_filter plans time windows; "
                        "send the watermark with incremental.param instead")
    if spec.sequence and entity.lookback:
        problems.append(f"lookback: a duration cannot be taken off an {spec.cursor_type} cursor")
    if spec.param and not spec.sequence:
        problems.append("incremental.param: only for cursor_type integer or string "
                        "(a timestamp watermark goes in through date_filter)")
    return problems


def history_problems(entity: EntityConfig) -> list[str]:
    """`target.write: history` keeps every version: its own columns are reserved, and a deletion
    closes the current version, so a soft delete has nothing to flag."""
    from ingestion.contract.config import HISTORY_COLUMNS  # (config imports this module)

    if entity.target.write != "history":
        return []
    names = {c["name"] for c in HISTORY_COLUMNS}
    problems = [f"target.write history adds the column {f['name']}: the schema may not define it"
                for f in entity.fields if f["name"].lower() in names]
    if entity.soft_deletes:
        problems.append("target.write history closes a deleted record's current version: soft_delete "
                        "(full_refresh.absent_rows, deletes.mode) does not apply")
    return problems


DELIMITED = ("csv", "tsv")  # one record per row
BODYLESS = ("jsonl", *DELIMITED)  # no parsed body: nothing for a body path to read
BODY_PATHS = ("total_pages_path", "total_count_path", "cursor_path", "next_url_path", "is_last_path",
              "has_more_path", "page_info_path")


def format_problems(entity: EntityConfig) -> list[str]:
    """Each `records` setting belongs to a format, and a format without a body cannot be paged by
    paths into it; XML values are text, so a true/false flag in it never ends a walk."""
    records, fmt = entity.records, entity.records.format
    delimited = fmt in DELIMITED
    problems = []
    if delimited and records.path:
        problems.append(f"records.path must be empty for format {fmt} (each row is a record)")
    misplaced = [name for name, used in (
        ("delimiter", records.delimiter is not None), ("quote_char", records.quote_char is not None),
        ("column_names", bool(records.column_names)), ("header", not records.header)) if used]
    if misplaced and not delimited:
        problems.append(f"records.{', records.'.join(misplaced)}: only for format csv or tsv, not {fmt}")
    if delimited and not records.header and not records.column_names:
        problems.append("records.header is false: name the columns with records.column_names")
    if delimited and records.delimiter is not None and records.delimiter == records.quote_char:
        problems.append("records.delimiter and records.quote_char must differ")
    if records.namespaces and fmt != "xml":
        problems.append(f"records.namespaces: only for format xml, not {fmt}")
    if records.columns and fmt in BODYLESS:
        problems.append(f"records.columns reads column names from the body, which format {fmt} has not")
    if fmt in BODYLESS:
        problems.extend(f"pagination.{name} reads the response body, which format {fmt} has not"
                        for name in BODY_PATHS if entity.pagination.get(name))
    if fmt == "xml":
        problems.extend(f"pagination.{name}: XML values are text, never true or false; page by a "
                        "total or until an empty page" for name in ("is_last_path", "has_more_path")
                        if entity.pagination.get(name))
    return problems


def path_settings(entity: EntityConfig) -> list[tuple[str, str, bool]]:
    """(setting, path, reads one value) for every path the config holds (docs/config.md#paths)."""
    records, job, fan_out = entity.records, entity.async_job, entity.fan_out
    found = [("records.path", records.path, False),
             *((f"records.fields.{column}", path, False) for column, path in records.fields.items())]
    choices = [("pagination", entity.pagination), ("auth", entity.auth)]
    source = fan_out.from_endpoint if fan_out else None
    if source:
        found += [("fan_out.from_endpoint.records_path", source.records_path, False),
                  ("fan_out.from_endpoint.value_path", source.value_path, True)]
        choices.append(("fan_out.from_endpoint.pagination", source.pagination))
    if job:
        found += [(f"async_job.{name}", getattr(job, name), True)
                  for name in ("job_id_path", "status_path", "result_url_path")]
    found += [(f"{where}.{name}", value, True) for where, choice in choices
              for name, value in choice.options.items() if name.endswith("_path")]
    deletes = entity.deletes
    if deletes and deletes.when:
        found.append(("deletes.when.field", deletes.when["field"], True))
    if deletes and deletes.endpoint:
        tombstones = deletes.endpoint
        found += [("deletes.endpoint.records_path", tombstones.records_path, False),
                  ("deletes.endpoint.deleted_at_field", tombstones.deleted_at_field, True),
                  *((f"deletes.endpoint.key_fields.{column}", path, True)
                    for column, path in tombstones.key_fields.items()),
                  *((f"deletes.endpoint.pagination.{name}", value, True)
                    for name, value in tombstones.pagination.options.items() if name.endswith("_path"))]
    found += [(f"records.filters[{number}].field", rule["field"], True)
              for number, rule in enumerate(entity.records.filters)]
    found += [(f"children[{number}].path", child.path, False) for number, child in enumerate(entity.children)]
    for number, rule in enumerate(entity.response_actions):
        found += [(f"response_actions[{number}].path", rule.path, False),
                  (f"response_actions[{number}].message_path", rule.message_path, True)]
    return [(setting, path, one) for setting, path, one in found if isinstance(path, str)]


def path_problems(entity: EntityConfig) -> list[str]:
    """Every path parses; one that must reach a single value has no `[*]`; a downloaded report is
    one file, not pages."""
    problems = []
    for setting, path, one in path_settings(entity):
        try:
            compiled = compile_path(path)
        except PathSyntaxError as exc:
            problems.append(f"{setting}: {exc}")
            continue
        if one and compiled.wildcard:
            problems.append(f"{setting}: {path!r} has [*], which gives a list; this setting reads one value")
    job = entity.async_job
    if job and job.result_url_path and entity.pagination.type != "single":
        problems.append("async_job.result_url_path: the report is one downloaded file; pagination "
                        f"must be single, not {entity.pagination.type}")
    return problems


def filter_problems(entity: EntityConfig) -> list[str]:
    """A `matches` of `records.filters` must compile: it is tested on every record."""
    problems = []
    for number, rule in enumerate(entity.records.filters):
        try:
            re.compile(rule.get("matches", ""))
        except re.error as exc:
            problems.append(f"records.filters[{number}].matches: not a regular expression: {exc}")
    return problems


def placeholder_problems(entity: EntityConfig) -> list[str]:
    """Placeholders must have something to fill them: `{item}` a fan_out, `{job_id}` an async_job;
    a date_filter without start_param/end_param must place `{start}` itself."""
    job = entity.async_job
    requests = [entity.request, *([job.create, job.poll] if job else []),
                *([entity.deletes.endpoint.request] if entity.deletes and entity.deletes.endpoint else [])]
    used = placeholders_in([[r.path, r.params, r.headers, r.body] for r in requests])
    problems = []
    if "item" in used and not entity.fan_out:
        problems.append("{item} is used, but the entity has no fan_out")
    if "job_id" in used and not job:
        problems.append("{job_id} is used, but the entity has no async_job")
    if job and "job_id" in placeholders_in([job.create.path, job.create.params, job.create.body]):
        problems.append("async_job.create cannot use {job_id}: the job does not exist yet")
    date_filter = entity.date_filter
    if date_filter and not (date_filter.start_param or date_filter.end_param) and "start" not in used:
        problems.append("date_filter has no start_param/end_param and no request uses {start}")
    return problems


def graphql_problems(entity: EntityConfig) -> list[str]:
    """GraphQL paging writes its cursor into `request.body.variables`: the query must be POSTed
    as a JSON body (a GET would send neither the query nor the cursor)."""
    if entity.pagination.type != "graphql":
        return []
    request, problems = entity.request, []
    if (request.method or "GET").upper() != "POST" or not isinstance(request.body, dict):
        problems.append("pagination graphql: the query goes in request.body ({\"query\": …, \"variables\": "
                        "{…}}) with request.method POST")
    elif not isinstance(request.body.get("variables", {}), dict):
        problems.append("pagination graphql: request.body.variables must be an object")
    return problems
