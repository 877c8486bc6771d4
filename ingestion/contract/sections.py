"""The entity config as typed sections, parsed once.

`with_defaults` fills every `default` the JSON Schema declares (following `$ref`s and the
`if type == …` branches of auth and pagination), so a default is written in one place — the
schema — and the code reads attributes. Each section is a dataclass whose fields are the schema's
properties of that object (`in` is spelled `location`: it is a Python keyword); a unit test keeps
the two in step. Pagination and auth stay a `Choice`: a type name and the named arguments the
class registered for that type (ingestion/source) is built with.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from ingestion.contract.dates import parse_duration, parse_instant

RENAMED = {"in": "location"}  # JSON key → attribute, where the key is a Python keyword


def with_defaults(document: dict, schema: dict) -> dict:
    """A copy of `document` (valid against `schema`) with every declared default filled in."""
    return _fill(copy.deepcopy(document), schema, schema)


def _resolve(node: dict, root: dict) -> dict:
    """`node` with its local `$ref` (and the target's own `$ref`s) merged in; `node`'s own keys win."""
    while "$ref" in node and node["$ref"].startswith("#"):
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/") if node["$ref"] != "#" else []:
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _fill(instance: Any, node: dict, root: dict) -> Any:
    if not isinstance(instance, dict):
        return instance
    node = _resolve(node, root)
    for sub in node.get("allOf", []):
        sub = _resolve(sub, root)
        if "if" not in sub:
            _fill(instance, sub, root)
        elif _matches(sub["if"], instance):
            _fill(instance, sub.get("then", {}), root)
        elif "else" in sub:
            _fill(instance, sub["else"], root)
    for key, sub in node.get("properties", {}).items():
        if not isinstance(sub, dict):
            continue
        resolved = _resolve(sub, root)
        if key not in instance and "default" in resolved:
            instance[key] = copy.deepcopy(resolved["default"])
        if key in instance:
            _fill(instance[key], resolved, root)
    return instance


def _matches(condition: dict, instance: dict) -> bool:
    from jsonschema import Draft202012Validator  # on first use: it is not on the cold-start path

    return Draft202012Validator(condition).is_valid(instance)


def section(cls: type, document: dict | None, **parsed: Any) -> Any:
    """`cls` built from a (defaulted) JSON object; `parsed` overrides fields that need parsing."""
    if document is None:
        return None
    values = {RENAMED.get(key, key): value for key, value in document.items()}
    return cls(**{**values, **parsed})


def _duration(text: str | None) -> timedelta | None:
    return parse_duration(text) if text else None


@dataclass(frozen=True, kw_only=True)
class Choice:
    """An extension point's pick: the registered `type` and the named arguments it is built with."""

    type: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: dict) -> Choice:
        options = {RENAMED.get(k, k): v for k, v in document.items() if k != "type"}
        return cls(type=document["type"], options=options)

    def get(self, name: str) -> Any:
        return self.options.get(name)


@dataclass(frozen=True, kw_only=True)
class HttpSpec:
    connect_timeout_seconds: float
    read_timeout_seconds: float
    max_retries: int
    backoff_factor: float
    max_retry_wait_seconds: float
    max_concurrency: int
    requests_per_second: float | None = None
    empty_statuses: tuple[int, ...] = ()
    rate_limit_headers: bool = True
    rate_limit_reserve: int = 1

    @property
    def timeouts(self) -> tuple[float, float]:
        return self.connect_timeout_seconds, self.read_timeout_seconds


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # a setting left out, where null is a value (`response_actions[].equals`)


@dataclass(frozen=True, kw_only=True)
class ResponseAction:
    """One rule of `response_actions`: conditions that must all hold, and the `action` taken."""

    action: str
    status: tuple[int, ...] = ()
    path: str | None = None
    equals: Any = ABSENT
    contains: Any = ABSENT
    exists: bool | None = None
    text_contains: str | None = None
    message_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestSpec:
    """A request of the config: the entity's own, a report job's create/poll, a fan-out parent."""

    path: str
    method: str | None = None  # None: the kind of request decides (GET; a report's create: POST)
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: dict | None = None


@dataclass(frozen=True, kw_only=True)
class HeaderColumns:
    """`records.columns`: paths to the column names (in the body) and to each record's values."""

    names: tuple[str, ...]
    values: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RecordsSpec:
    path: str
    format: str
    compression: str
    allow_missing: bool
    max_rejects: int
    header: bool = True
    fields: dict[str, str] = field(default_factory=dict)
    computed: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None  # None: the format's own (csv `,`, tsv a tab)
    quote_char: str | None = None  # None: the format's own; "": no quoting
    column_names: tuple[str, ...] = ()
    namespaces: dict[str, str] = field(default_factory=dict)
    columns: HeaderColumns | None = None
    filters: tuple[dict, ...] = ()  # condition documents with an `action` (ingestion/rows/filters.py)


@dataclass(frozen=True, kw_only=True)
class DateFilterSpec:
    location: str
    format: str
    align: bool
    start_param: str | None = None
    end_param: str | None = None
    strftime: str | None = None
    step: timedelta | None = None
    inclusive_end: timedelta | None = None


@dataclass(frozen=True, kw_only=True)
class IncrementalSpec:
    """How incremental runs find what changed without a server-side date filter."""

    client_filter: bool = False
    order: str = "unsorted"
    cursor_type: str = "timestamp"
    param: str | None = None
    location: str = "query"

    @property
    def sequence(self) -> bool:
        """An integer or string cursor: no time windows, the watermark is sent in `param`."""
        return self.cursor_type != "timestamp"


@dataclass(frozen=True, kw_only=True)
class PartitionSpec:
    field: str
    granularity: str
    immutable: bool


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    dataset: str
    table: str
    raw_json: bool
    partition: PartitionSpec | None = None
    cluster_by: tuple[str, ...] = ()
    write: str = "merge"  # a registered write mode (ingestion/warehouse/writes.py)


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    cron: str
    time_zone: str
    sync_mode: str


@dataclass(frozen=True, kw_only=True)
class FromEndpoint:
    path: str
    records_path: str
    params: dict[str, Any] = field(default_factory=dict)
    value_path: str | None = None
    pagination: Choice = field(default_factory=lambda: Choice(type="single"))

    @property
    def request(self) -> RequestSpec:
        return RequestSpec(path=self.path, params=self.params)


@dataclass(frozen=True, kw_only=True)
class FromEntity:
    entity: str
    column: str


@dataclass(frozen=True, kw_only=True)
class FanOutSpec:
    column: str
    items: tuple[str | int, ...] | None = None
    from_endpoint: FromEndpoint | None = None
    from_entity: FromEntity | None = None


@dataclass(frozen=True, kw_only=True)
class AsyncJobSpec:
    create: RequestSpec
    poll: RequestSpec
    job_id_path: str
    status_path: str
    done_values: tuple[Any, ...]
    poll_interval_seconds: float
    max_poll_interval_seconds: float
    timeout_seconds: float
    failed_values: tuple[Any, ...] = ()
    result_url_path: str | None = None  # results: the file at this URL, not `request`
    max_jobs_in_flight: int = 10  # slices whose report jobs run at once (ingestion/source/readahead.py)


@dataclass(frozen=True, kw_only=True)
class TombstoneEndpoint:
    """`deletes.endpoint`: a request listing deleted keys, walked after each slice's records."""

    path: str
    key_fields: dict[str, str]  # merge-key column → path in a tombstone
    records_path: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    deleted_at_field: str | None = None
    pagination: Choice = field(default_factory=lambda: Choice(type="single"))

    @property
    def request(self) -> RequestSpec:
        return RequestSpec(path=self.path, params=self.params)


@dataclass(frozen=True, kw_only=True)
class DeletesSpec:
    """Deletions the API reports: records matching `when` (a condition document, compiled by
    ingestion/contract/conditions.py), and/or tombstones from `endpoint`."""

    mode: str
    when: dict | None = None
    endpoint: TombstoneEndpoint | None = None


@dataclass(frozen=True, kw_only=True)
class SchemaSpec:
    """What a top-level record field no column reads does (ingestion/rows/newfields.py)."""

    on_new_field: str = "report"


@dataclass(frozen=True, kw_only=True)
class FullRefreshSpec:
    absent_rows: str


@dataclass(frozen=True, kw_only=True)
class ChildSpec:
    """One `children` entry: an array inside each record, loaded into a table of its own
    (ingestion/contract/children.py)."""

    name: str
    path: str
    table: str
    keys: tuple[str, ...] = ()  # the child's own id columns; none: its place in the array


@dataclass(frozen=True, kw_only=True)
class Sections:
    """Everything an entity config says, typed (see EntityConfig for the derived views)."""

    base_url: str
    start_date: datetime
    merge_keys: tuple[str, ...]
    auth: Choice
    http: HttpSpec
    request: RequestSpec
    records: RecordsSpec
    pagination: Choice
    target: TargetSpec
    lookback: timedelta
    availability_lag: timedelta
    full_refresh: FullRefreshSpec
    description: str | None = None
    cursor_field: str | None = None
    incremental: IncrementalSpec = field(default_factory=IncrementalSpec)
    date_filter: DateFilterSpec | None = None
    fan_out: FanOutSpec | None = None
    async_job: AsyncJobSpec | None = None
    schedule: ScheduleSpec | None = None
    freshness: timedelta | None = None  # as written; EntityConfig.freshness_objective adds the default
    response_actions: tuple[ResponseAction, ...] = ()
    children: tuple[ChildSpec, ...] = ()
    schema: SchemaSpec = field(default_factory=SchemaSpec)
    deletes: DeletesSpec | None = None


def parse_sections(spec: dict) -> dict[str, Any]:
    """The typed sections of a resolved, defaulted config (keyword arguments of EntityConfig)."""
    date_filter, fan_out, job = spec.get("date_filter"), spec.get("fan_out"), spec.get("async_job")
    target = spec["target"]
    return {
        "description": spec.get("description"),
        "base_url": spec["base_url"],
        "start_date": parse_instant(spec["start_date"]),
        "merge_keys": tuple(spec["merge_keys"]),
        "cursor_field": spec.get("cursor_field"),
        "incremental": section(IncrementalSpec, spec.get("incremental", {})),
        "auth": Choice.parse(spec["auth"]),
        "http": section(HttpSpec, spec["http"], empty_statuses=tuple(spec["http"].get("empty_statuses", ()))),
        "request": section(RequestSpec, spec["request"]),
        "records": _records(spec["records"]),
        "pagination": Choice.parse(spec["pagination"]),
        "date_filter": section(DateFilterSpec, date_filter, **({} if date_filter is None else {
            "step": _duration(date_filter.get("step")),
            "inclusive_end": _duration(date_filter.get("inclusive_end"))})),
        "target": section(TargetSpec, target, partition=section(PartitionSpec, target.get("partition")),
                          cluster_by=tuple(target.get("cluster_by", ()))),
        "lookback": parse_duration(spec["lookback"]),
        "availability_lag": parse_duration(spec["availability_lag"]),
        "fan_out": section(FanOutSpec, fan_out, **({} if fan_out is None else {
            "items": tuple(fan_out["items"]) if "items" in fan_out else None,
            "from_endpoint": _from_endpoint(fan_out.get("from_endpoint")),
            "from_entity": section(FromEntity, fan_out.get("from_entity"))})),
        "async_job": section(AsyncJobSpec, job, **({} if job is None else {
            "create": section(RequestSpec, job["create"]), "poll": section(RequestSpec, job["poll"]),
            "done_values": tuple(job["done_values"]),
            "failed_values": tuple(job.get("failed_values", ()))})),
        "schedule": section(ScheduleSpec, spec.get("schedule")),
        "freshness": _duration(spec.get("freshness")),
        "full_refresh": section(FullRefreshSpec, spec["full_refresh"]),
        "schema": section(SchemaSpec, spec.get("schema", {})),
        "response_actions": tuple(section(ResponseAction, rule, status=_statuses(rule.get("status")))
                                  for rule in spec.get("response_actions", ())),
        "children": tuple(section(ChildSpec, child, keys=tuple(child.get("keys", ())))
                          for child in spec.get("children", ())),
        "deletes": _deletes(spec.get("deletes")),
    }


def _records(document: dict) -> RecordsSpec:
    columns = document.get("columns")
    return section(RecordsSpec, document, column_names=tuple(document.get("column_names", ())),
                   filters=tuple(document.get("filters", ())),
                   columns=None if columns is None else HeaderColumns(
                       names=tuple(columns["names"]), values=tuple(columns["values"])))


def _statuses(value: int | list[int] | None) -> tuple[int, ...]:
    """A rule's `status`: one status or a list of them (none: any status)."""
    return () if value is None else tuple(value) if isinstance(value, list) else (value,)


def _from_endpoint(document: dict | None) -> FromEndpoint | None:
    if document is None:
        return None
    pagination = Choice.parse(document.get("pagination", {"type": "single"}))
    return section(FromEndpoint, document, pagination=pagination)


def _deletes(document: dict | None) -> DeletesSpec | None:
    if document is None:
        return None
    endpoint = document.get("endpoint")
    return section(DeletesSpec, document, endpoint=None if endpoint is None else section(
        TombstoneEndpoint, endpoint, pagination=Choice.parse(endpoint.get("pagination", {"type": "single"}))))


def attribute_names(cls: type) -> set[str]:
    """The JSON keys a section reads (for the test that keeps sections and schema in step)."""
    inverse = {v: k for k, v in RENAMED.items()}
    return {inverse.get(f.name, f.name) for f in fields(cls)}
