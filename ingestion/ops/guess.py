"""What a person reads off an API, as scaffold's two readers (a sample response, an OpenAPI
document) share it: the names and shapes in a response body, its headers and the request's query
parameters that give away the records, their key and change time, the date filter and the paging.

Every guess is noted with what it was inferred from (`review: <setting>: <value> (from …)`), so a
proposal can be checked line by line against the API's documentation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
EPOCH = re.compile(r"^\d{10}(\.\d+)?$|^\d{13}$")
BARE_KEY = re.compile(r"[^.\[\]\s'\"]+")  # a key docs/config.md#paths reads without quotes

CURSOR_NAMES = ("updated_at", "updatedat", "modified_at", "modifiedat", "last_modified", "lastmodified",
                "date_modified", "updated", "modified", "changed_at", "updated_time", "lastmodifieddate",
                "systemmodstamp", "last_updated", "hs_lastmodifieddate")
KEY_NAMES = ("id", "uuid", "key", "_id", "gid")
RECORD_LIST_NAMES = ("data", "items", "results", "records", "rows", "entries", "values", "elements",
                     "value", "edges", "nodes")

# Names in a response body, compared normalised (`norm`), best first.
NEXT_URL = ("@odatanextlink", "nextlink", "nexturl", "nextpageurl", "nextrecordsurl", "nexthref",
            "nextpagelink", "next", "nextpage")
NEXT_TOKEN = ("nextcursor", "nextpagetoken", "nexttoken", "nextpagecursor", "continuationtoken",
              "continuation", "nextmarker", "scrollid", "next", "nextpage", "after", "cursor")
HAS_MORE = ("hasmore", "hasnext", "hasnextpage", "hasmoreitems", "hasmoreresults", "more")
IS_LAST = ("islastpage", "islast", "lastpage", "last")
OFFSET_KEYS = ("offset", "startat", "start", "skip", "startindex")
LIMIT_KEYS = ("limit", "maxresults", "pagesize", "perpage", "max", "top", "take")
PAGE_KEYS = ("page", "currentpage", "pagenumber", "pageno", "pageindex")
TOTAL_PAGES = ("totalpages", "pagecount", "numpages", "pages", "lastpage")
TOTAL_COUNT = ("totalcount", "total", "totalresults", "totalsize", "totalrecords", "totalitems",
               "totalelements", "numfound", "totalhits", "count")
# Request parameters, compared the same way (`page[size]` is `pagesize`).
PAGE_PARAMS = (*PAGE_KEYS, "pg")
SIZE_PARAMS = (*LIMIT_KEYS, "size", "count", "rows", "pagelimit")
CURSOR_PARAMS = ("startingafter", "cursor", "after", "pagetoken", "nexttoken", "startcursor",
                 "continuationtoken", "continuation", "marker", "pageafter", "pagecursor", "searchafter")

START_WORDS = {"since", "after", "from", "start", "begin", "min", "gte", "gt", "oldest", "earliest"}
END_WORDS = {"until", "before", "to", "end", "max", "lte", "lt", "latest"}
TIME_WORDS = {"date", "time", "datetime", "timestamp", "updated", "modified", "changed", "created",
              "edited", "day", "since", "until", "oldest", "latest"}
CHANGE_WORDS = {"updated", "modified", "changed", "edited", "since"}
EXCLUSIVE = {"gt", "lt", "after", "before"}


def norm(name: str) -> str:
    """`next_page_token`, `nextPageToken`, `page[size]` → `nextpagetoken`, …, `pagesize`."""
    return re.sub(r"[^a-z0-9@]", "", name.lower())


def words(name: str) -> set[str]:
    """`updatedAt[gte]` → {updated, at, gte}."""
    return set(re.findall(r"[a-z]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()))


def path_of(keys: Iterable[str]) -> str:
    """The docs/config.md#paths spelling of a list of keys: dotted where it can be, quoted keys
    (`['@odata.nextLink']`, `['Begin Date']`) where a key holds a dot, a space, a bracket or a quote."""
    text = ""
    for key in keys:
        if BARE_KEY.fullmatch(key):
            text += f".{key}" if text else key
        else:
            text += "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return text


def noted(notes: list[str], setting: str, value: Any, evidence: str, advice: str = "") -> None:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    notes.append(f"{setting}: {shown} (from {evidence})" + (f"; {advice}" if advice else ""))


@dataclass(frozen=True)
class Param:
    """A query parameter of the request: seen in a URL (its value) or declared in an OpenAPI
    document (its type, format and a page size from its maximum or default)."""

    name: str
    value: str | None = None
    type: str | None = None
    format: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Clue:
    """One thing seen: a key in the response body (`name` its path, `key` its own name), a
    response header or a request parameter (`name` = `key`), with its value."""

    where: str  # "body", "record", "header", "param", or "guess" (a name nothing showed)
    name: str
    value: Any
    key: str
    size: int | None = None  # a declared page size parameter's maximum or default


def said(clues: Iterable[Clue], params_from: str) -> str:
    """`startAt, maxResults and total in the response; the X-Total header`."""
    clues = list(clues)
    templates = {"body": "{} in the response", "record": "{} in every record", "header": "the {} header",
                 "param": "{} in " + params_from, "guess": "the parameter name {}: a guess, check it"}
    parts = []
    for where, template in templates.items():
        names = list(dict.fromkeys(c.name for c in clues if c.where == where))
        if names:
            text = template.format(" and ".join(filter(None, [", ".join(names[:-1]), names[-1]])))
            parts.append(text + "s" * (where == "header" and len(names) > 1))
    return "; ".join(parts)


@dataclass
class Evidence:
    """What one endpoint shows: a response body (sampled, or synthesised from a schema), its
    headers as the server spells them, the request's query parameters, a POSTed body."""

    body: Any
    records: list[dict]
    headers: dict[str, str] = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)
    request_body: dict | None = None
    params_from: str = "the URL"
    declared: bool = False  # the parameters are all there are (an OpenAPI document), not a sample's
    key_path: str | None = None  # set once the merge key is known (Stripe-style last-record cursors)

    def header(self, *names: str) -> Clue | None:
        wanted = {norm(n) for n in names}
        return next((Clue("header", k, v, k) for k, v in self.headers.items() if norm(k) in wanted), None)

    def param(self, names: tuple[str, ...]) -> Clue | None:
        by_name = {norm(p.name): p for p in self.params}
        found = next((by_name[n] for n in names if n in by_name), None)
        return found and Clue("param", found.name, found.value, found.name, found.size)

    def find(self, names: tuple[str, ...], accept: Callable[[Any], bool]) -> Clue | None:
        """The first key among `names` (best first, then shallowest) anywhere in the body's
        objects whose value `accept`s. Lists (the records) are not entered."""
        if not isinstance(self.body, dict):
            return None
        for wanted in names:
            queue: list[tuple[list[str], dict]] = [([], self.body)]
            while queue:
                keys, node = queue.pop(0)
                for key, value in node.items():
                    if norm(key) == wanted and accept(value):
                        return Clue("body", path_of([*keys, key]), value, key)
                    if isinstance(value, dict):
                        queue.append(([*keys, key], value))
        return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "/", "?"))


def is_token(value: Any) -> bool:
    return value is None or is_int(value) or (isinstance(value, str) and not is_url(value))


def pick(fields: list[dict], names: Iterable[str], types: set[str]) -> str | None:
    """The first column among `names` (case-insensitive) of one of `types`, not REPEATED."""
    by_name = {f["name"].lower(): f["name"] for f in fields
               if f["type"] in types and f.get("mode") != "REPEATED"}
    return next((by_name[n.lower()] for n in names if n.lower() in by_name), None)


def guess_key(fields: list[dict], entity: str, notes: list[str]) -> str:
    singular = re.sub(r"(ies|s)$", lambda m: "y" if m[1] == "ies" else "", entity)
    names = (*KEY_NAMES, f"{singular}_id", f"{singular}id")
    key = pick(fields, names, {"STRING", "INT64"})
    if key:
        noted(notes, "merge_keys", [key], f"the record field {key!r}")
        return key
    key = fields[0]["name"]
    noted(notes, "merge_keys", [key], "nothing id-like: the first field",
          "set the field(s) that identify a record")
    return key


def guess_cursor(fields: list[dict], notes: list[str]) -> str | None:
    cursor = pick(fields, CURSOR_NAMES, {"TIMESTAMP", "DATE"})
    if cursor:
        noted(notes, "cursor_field", cursor, f"the {cursor!r} field, a change time")
    else:
        created = pick(fields, ("created_at", "createdAt", "created", "date_created"), {"TIMESTAMP", "DATE"})
        notes.append("cursor_field: none (no updated-at field; every run reads everything"
                     + (f": {created!r} is a creation time, changes to older records would be missed)"
                        if created else ")"))
    return cursor


def date_role(param: Param) -> str | None:
    """`start` or `end` when the parameter bounds a change or creation time, by its name and, for
    a bare `from`/`after`/`start`, its value or declared format."""
    found = words(param.name)
    role = "start" if found & START_WORDS else "end" if found & END_WORDS else None
    dated = (param.format in ("date", "date-time", "unix-time")
             or bool(param.value and (DATE.match(param.value) or INSTANT.match(param.value)
                                      or EPOCH.match(param.value))))
    if param.value is not None and not dated:
        return None  # startAt=0, after=abc123: an offset or a cursor
    return role if role and (dated or found & TIME_WORDS) else None


def date_format(param: Param) -> str:
    value, fmt = param.value or "", param.format
    if DATE.match(value) or fmt == "date":
        return "iso_date"
    if EPOCH.match(value) or fmt == "unix-time" or param.type in ("integer", "number"):
        return "epoch_ms" if len(value.split(".")[0]) == 13 or words(param.name) & {"ms", "millis"} \
            else "epoch_s"
    if INSTANT.match(value) and not value.endswith("Z"):
        return "iso_datetime"
    return "iso_datetime_z"


def guess_date_filter(evidence: Evidence, notes: list[str]) -> dict | None:
    """Start and end parameters, paired by what is left of their names (`start_date`/`end_date`,
    `updated_at[gte]`/`updated_at[lte]`, `since`/`until`), change times before creation times."""
    roles = {p.name: date_role(p) for p in evidence.params}
    starts = [p for p in evidence.params if roles[p.name] == "start"]
    if not starts:
        return None

    def stem(p: Param) -> set[str]:
        return words(p.name) - START_WORDS - END_WORDS

    start = max(starts, key=lambda p: (bool(words(p.name) & CHANGE_WORDS), -len(stem(p)),
                                       not words(p.name) & EXCLUSIVE))  # windows start inclusive
    ends = sorted((p for p in evidence.params if roles[p.name] == "end" and stem(p) == stem(start)),
                  key=lambda p: not words(p.name) & EXCLUSIVE)  # and end exclusive
    spec: dict[str, Any] = {"start_param": start.name}
    if ends:
        spec["end_param"] = ends[0].name
    if (fmt := date_format(start)) != "iso_datetime_z":
        spec["format"] = fmt
    shown = " and ".join(p.name for p in [start, *ends[:1]])
    advice = ("filters on creation: changed records are missed "
              "(docs/config.md#incremental-without-a-date-filter)" if "created" in words(start.name) else "")
    noted(notes, "date_filter", spec, f"{shown} in {evidence.params_from}", advice)
    return spec

