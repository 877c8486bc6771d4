"""One small API per paging style, as werkzeug handlers over the same records (`THINGS`), for
scaffold's tests: a proposal read off one of them must walk all of its pages."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

THINGS = [{"id": n, "name": f"thing {n}", "updated_at": f"2026-03-{n:02d}T08:00:00Z"} for n in range(1, 13)]


def page_at(start: int, size: int) -> tuple[list[dict], int | None]:
    """The records from `start` and where the next page starts (None: this is the last)."""
    end = start + size
    return THINGS[start:end], end if end < len(THINGS) else None


def reply(body, **headers: str) -> Response:
    return Response(json.dumps(body), content_type="application/json", headers=headers)


def github(request: Request) -> Response:
    """A JSON array; the next page in an RFC 8288 `Link` header."""
    page, size = int(request.args.get("page", 1)), int(request.args["per_page"])
    rows, following = page_at((page - 1) * size, size)
    link = {"Link": f'<{request.base_url}?per_page={size}&page={page + 1}>; rel="next"'} if following else {}
    return reply(rows, **link)


def stripe(request: Request) -> Response:
    """`has_more`, and the last record's id sent back as `starting_after`."""
    after = request.args.get("starting_after")
    start = next(i + 1 for i, t in enumerate(THINGS) if str(t["id"]) == after) if after else 0
    rows, following = page_at(start, int(request.args.get("limit", 10)))
    return reply({"object": "list", "url": "/v1/things", "has_more": following is not None, "data": rows})


def jira(request: Request) -> Response:
    """Jira's search: `startAt`, `maxResults`, `total`, records under `issues`."""
    start, size = int(request.args.get("startAt", 0)), int(request.args.get("maxResults", 50))
    rows, _ = page_at(start, size)
    return reply({"expand": "names", "startAt": start, "maxResults": size, "total": len(THINGS),
                  "issues": rows})


def graph(request: Request) -> Response:
    """Microsoft Graph: records in `value`, the next page's URL in `@odata.nextLink`."""
    start = int(request.args.get("$skiptoken", 0))
    rows, following = page_at(start, 2)
    body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#things", "value": rows}
    if following:
        body["@odata.nextLink"] = f"{request.base_url}?$skiptoken={following}"
    return reply(body)


def hubspot(request: Request) -> Response:
    """HubSpot CRM v3: `paging.next.after`, sent back as `after`."""
    rows, following = page_at(int(request.args.get("after", 0)), int(request.args.get("limit", 10)))
    body: dict = {"results": rows}
    if following:
        body["paging"] = {"next": {"after": str(following), "link": f"{request.base_url}?after={following}"}}
    return reply(body)


def gitlab(request: Request) -> Response:
    """GitLab: a JSON array; `X-Next-Page` (empty on the last page), `X-Per-Page`, `X-Total`."""
    page, size = int(request.args.get("page", 1)), int(request.args.get("per_page", 20))
    rows, following = page_at((page - 1) * size, size)
    return reply(rows, **{"X-Next-Page": str(page + 1) if following else "", "X-Per-Page": str(size),
                          "X-Total": str(len(THINGS)), "X-Page": str(page)})


def json_server(request: Request) -> Response:
    """json-server style: `_page`/`_limit` parameters and an `X-Total-Count` header."""
    page, size = int(request.args.get("_page", 1)), int(request.args.get("_limit", 10))
    return reply(page_at((page - 1) * size, size)[0], **{"X-Total-Count": str(len(THINGS))})


def next_cursor_header(request: Request) -> Response:
    """Records under `events`; the next token in an `X-Next-Cursor` header, absent at the end."""
    rows, following = page_at(int(request.args.get("cursor", 0)), 2)
    return reply({"events": rows}, **({"X-Next-Cursor": str(following)} if following else {}))
