"""How an endpoint pages, read the way a person reads it: the `Link` header, a next-page header,
a next URL or token in the body, `has_more` with an id in every record, offsets or page numbers
under whatever names the request and the body use, a GraphQL `pageInfo`. Detectors are tried in
that order; the first that recognises the endpoint wins, and its note says what it saw.
"""

from __future__ import annotations

import re
from typing import Any

from ingestion.ops.guess import (
    CURSOR_PARAMS,
    HAS_MORE,
    IS_LAST,
    LIMIT_KEYS,
    NEXT_TOKEN,
    NEXT_URL,
    OFFSET_KEYS,
    PAGE_KEYS,
    PAGE_PARAMS,
    SIZE_PARAMS,
    TOTAL_COUNT,
    TOTAL_PAGES,
    Clue,
    Evidence,
    is_int,
    is_token,
    is_url,
    norm,
    noted,
    said,
)

Found = tuple[dict, list[Clue]] | None  # the settings and the clues they were read from


def graphql(ev: Evidence) -> Found:
    """A connection's `pageInfo {endCursor, hasNextPage}`; the variables the query pages with."""
    info = ev.find(("pageinfo",), lambda v: isinstance(v, dict) and bool(
        {"endCursor", "hasNextPage"} & v.keys()))
    if not info:
        return None
    spec: dict[str, Any] = {"type": "graphql", "page_info_path": info.name}
    query = str((ev.request_body or {}).get("query", ""))
    variables = (ev.request_body or {}).get("variables") or {}
    cursor = re.search(r"\bafter\s*:\s*\$(\w+)", query)
    size = re.search(r"\b(?:first|last)\s*:\s*\$(\w+)", query)
    if cursor and cursor[1] != "after":
        spec["cursor_variable"] = cursor[1]
    if size and size[1] != "first":
        spec["size_variable"] = size[1]
    if is_int(variables.get(size[1] if size else "first")):
        spec["page_size"] = variables[size[1] if size else "first"]
    return spec, [info]


def link_header(ev: Evidence) -> Found:
    link = ev.header("link")
    if link and re.search(r'rel="?(next|last|prev|first)\b', link.value):
        return {"type": "link_header"}, [link]
    return None


def header_next(ev: Evidence) -> Found:
    """GitLab's `X-Next-Page` (a page number, or a URL), `X-Next-Cursor`-style tokens."""
    for name, value in ev.headers.items():
        key, clue = norm(name), Clue("header", name, value, name)
        if re.fullmatch(r"x?next(page)?(url|link)", key) or ("nextpage" in key and is_url(value)):
            return {"type": "next_url", "next_url_header": name}, [clue]
        if "nextpage" in key or re.search(r"next(page)?(cursor|token)|continuation", key):
            param = named(ev.param(PAGE_PARAMS), "page") if "nextpage" in key else \
                named(ev.param(CURSOR_PARAMS), "cursor")
            size, sized = size_settings(ev)
            return ({"type": "cursor", "cursor_header": name, "cursor_param": param.key, **size},
                    [clue, param, *filter(None, [sized])])
    return None


def body_next_url(ev: Evidence) -> Found:
    found = ev.find(NEXT_URL, lambda v: v is None or is_url(v))
    return ({"type": "next_url", "next_url_path": found.name}, [found]) if found else None


def body_cursor(ev: Evidence) -> Found:
    """A token in the body, sent back under the name the request shows (else its own name
    without `next`: `nextPageToken` → `pageToken`)."""
    found = ev.find(NEXT_TOKEN, is_token)
    if not found:
        return None
    stem = re.sub(r"^next_?", "", found.key, flags=re.IGNORECASE) or "cursor"
    param = named(ev.param(CURSOR_PARAMS), stem[0].lower() + stem[1:])
    size, sized = size_settings(ev)
    flag = flags(ev)
    spec = {"type": "cursor", "cursor_path": found.name, "cursor_param": param.key, **size,
            **flag_setting(flag)}
    return spec, [found, param, *filter(None, [sized, flag])]


def last_record(ev: Evidence) -> Found:
    """Stripe: `has_more` and an id in every record, sent back as `starting_after`."""
    more = ev.find(HAS_MORE, lambda v: isinstance(v, bool))
    if not more or not ev.key_path or ev.param(PAGE_PARAMS) or ev.param(OFFSET_KEYS):
        return None
    param = named(ev.param(CURSOR_PARAMS), "starting_after")
    size, sized = size_settings(ev)
    spec = {"type": "cursor", "last_record_path": ev.key_path, "cursor_param": param.key, **size,
            "has_more_path": more.name}
    return spec, [more, Clue("record", ev.key_path, None, ev.key_path), param, *filter(None, [sized])]


def numbered(ev: Evidence) -> Found:
    """Offsets or page numbers under the names the request or the body uses; a total, a page
    count or a last-page flag to stop at (else an empty or short page). A name nothing shows is
    the common one (`offset`, `page`), but not for an OpenAPI document: it declares them all."""
    offset = ev.param(OFFSET_KEYS) or (None if ev.declared else ev.find(OFFSET_KEYS, is_int))
    page = ev.param(PAGE_PARAMS) or (None if ev.declared else ev.find(PAGE_KEYS, is_int))
    pages = ev.find(TOTAL_PAGES, is_int) or ev.header("x-total-pages", "x-page-count")
    total = ev.find(TOTAL_COUNT, is_int) or ev.header("x-total-count", "x-total", "x-total-results")
    flag = flags(ev)
    size, sized = size_settings(ev)
    if not size:
        size, sized = body_size(ev)
    if not (offset or page or pages or total or flag or sized) or (ev.declared and not (offset or page)):
        return None
    clues = [c for c in (sized, pages, total, flag) if c]
    if offset or not (page or pages or flag or (sized and "page" in norm(sized.key))):
        offset, limit = named(offset, "offset"), named(sized if "size_param" in size else None, "limit")
        spec = {"type": "offset", "offset_param": offset.key, "limit_param": limit.key,
                "page_size": size.get("page_size", 100), **total_setting(total, "count"),
                **flag_setting(flag)}
        return spec, [offset, limit, *clues]
    page = named(page, "page")
    if total and not pages and not size and len(ev.records) > 1:  # a count needs the page size
        size = {"page_size": len(ev.records)}
        clues.append(Clue("body", f"{len(ev.records)} records", None, ""))
    spec = {"type": "page_number", "page_param": page.key, **size, **flag_setting(flag)}
    if pages:
        spec.update(total_setting(pages, "pages"))
    elif total and "page_size" in size:
        spec.update(total_setting(total, "count"))
    return spec, [page, *clues]


Sized = tuple[dict, Clue | None]  # size_param and page_size, and where they were seen


def size_settings(ev: Evidence) -> Sized:
    """The page size parameter the request shows (or GitLab's `X-Per-Page`) and its value."""
    param = ev.param(SIZE_PARAMS)
    if param:
        value = str(param.value or "")
        size = int(value) if value.isdigit() else param.size or 100
        return {"size_param": param.key, "page_size": size}, param
    per_page = ev.header("x-per-page")
    if per_page and per_page.value.isdigit():
        return {"size_param": "per_page", "page_size": int(per_page.value)}, per_page
    return {}, None


def body_size(ev: Evidence) -> Sized:
    """The page size the body names (`maxResults: 50`)."""
    found = ev.find(LIMIT_KEYS, is_int)
    return ({"size_param": found.key, "page_size": found.value}, found) if found else ({}, None)


def named(seen: Clue | None, usual: str) -> Clue:
    """The parameter name seen, else the usual one, noted as a guess to check."""
    return seen or Clue("guess", usual, None, usual)


def flags(ev: Evidence) -> Clue | None:
    return (ev.find(HAS_MORE, lambda v: isinstance(v, bool))
            or ev.find(IS_LAST, lambda v: isinstance(v, bool)))


def flag_setting(flag: Clue | None) -> dict:
    if not flag:
        return {}
    return {"has_more_path" if norm(flag.key) in HAS_MORE else "is_last_path": flag.name}


def total_setting(found: Clue | None, kind: str) -> dict:
    if not found:
        return {}
    return {f"total_{kind}_{'path' if found.where == 'body' else 'header'}": found.name}


DETECTORS = (graphql, link_header, header_next, body_next_url, body_cursor, last_record, numbered)


def guess_pagination(ev: Evidence, notes: list[str]) -> dict:
    for detect in DETECTORS:
        if found := detect(ev):
            spec, clues = found
            noted(notes, "pagination", spec, said(clues, ev.params_from))
            return spec
    notes.append("pagination: single (nothing in the response says how to get the next page: one "
                 "request per window; see docs/config.md \"Pagination types\" if the API pages)")
    return {"type": "single"}
