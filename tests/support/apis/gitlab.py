"""GitLab's REST API v4 project issues, written from GitLab's documentation (docs.gitlab.com: Issues
API "List project issues", REST API "Pagination" / "Offset-based pagination", "Rate limits").

`GET /api/v4/projects/:id/issues` where `:id` is the numeric id or the URL-encoded path
(`gitlab-org%2Fgitlab`: a bare slash is another route, answered `404 Project Not Found`). The body
is the JSON array of issues; the paging is in the headers:

- `x-page`, `x-per-page`, `x-next-page` (empty on the last page), `x-prev-page`, `x-total`,
  `x-total-pages`, and `Link` with `first`, `prev`, `next`, `last`. When the query matches more
  than `count_limit` issues (10,000 on GitLab) `x-total`, `x-total-pages` and `rel="last"` are
  left out: a client that pages by the total stops after page 1.
- `per_page` defaults to 20, at most 100; a page past the end is `[]`.
- `updated_after` / `updated_before` filter on `updated_at`, both **inclusive** ("on or after",
  "on or before"), ISO 8601; `order_by` (`created_at` default, `updated_at`) and `sort` (`desc`
  default, `asc`); `state` (`opened`, `closed`, all by default).
- A personal access token in `PRIVATE-TOKEN` (or `Authorization: Bearer`); without one a 401
  `{"message": "401 Unauthorized"}`.
- With `rate_limit=(requests, seconds)` every answer carries GitLab.com's `RateLimit-Limit`,
  `RateLimit-Observed`, `RateLimit-Remaining`, `RateLimit-Reset` (Unix time) and
  `RateLimit-ResetTime`; a request over the budget is a 429 with `Retry-After` (each recorded
  in `throttled`).
"""

from __future__ import annotations

import math
import random
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from urllib.parse import quote, unquote, urlencode

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response
from tests.support.apis.kit import bearer, instants, millis_z

_ROUTE = re.compile(r"^/api/v4/projects/([^/]+)/issues$")
LABELS = ("bug", "feature", "docs", "priority::1", "workflow::in review")


class GitLabIssues(SimApi):
    """Projects (path → issues), each issue created and last updated in the four weeks before NOW."""

    def __init__(self, projects: dict[str, int] | None = None, seed: int = 17, count_limit: int = 10_000,
                 rate_limit: tuple[int, float] | None = None):
        super().__init__()
        self.token = "glpat-" + fake_credential("gitlab")
        self.count_limit, self.rate_limit = count_limit, rate_limit
        self.window_start, self.window_used = time.monotonic(), 0
        self.throttled: list[float] = []  # when each 429 was answered
        self.served: list[dict[str, str]] = []  # the paging headers of every page served
        rng = random.Random(seed)
        self.projects: dict[str, dict] = {}
        for number, (path, count) in enumerate((projects or {"gitlab-org/gitlab": 35}).items()):
            project_id = 278964 + number * 1000
            created = instants(rng, NOW - timedelta(days=28), NOW - timedelta(days=1), count,
                               timedelta(milliseconds=1))
            issues = [self.issue(rng, project_id, path, iid + 1, at) for iid, at in enumerate(created)]
            self.projects[path] = {"id": project_id, "issues": issues}

    def issue(self, rng: random.Random, project_id: int, path: str, iid: int, created: datetime) -> dict:
        span = (NOW - timedelta(minutes=5) - created) // timedelta(milliseconds=1)
        updated = created + timedelta(milliseconds=rng.randrange(0, span))
        closed = rng.random() < 0.3
        author = rng.choice((("jdoe", "Jane Doe", 1001), ("rsmith", "R. Smith", 1002),
                             ("ghost", "Ghost User", 1)))
        return {
            "id": 90000000 + project_id + iid, "iid": iid, "project_id": project_id,
            "title": f"Issue {iid} of {path}", "description": None if iid % 4 == 0 else f"Steps for {iid}",
            "state": "closed" if closed else "opened",
            "created_at": millis_z(created), "updated_at": millis_z(updated),
            "closed_at": millis_z(updated) if closed else None,
            "labels": rng.sample(LABELS, rng.randrange(0, 3)),
            "author": {"id": author[2], "username": author[0], "name": author[1], "state": "active"},
            "assignees": [], "milestone": None, "user_notes_count": rng.randrange(0, 9),
            "web_url": f"https://gitlab.example.com/{path}/-/issues/{iid}",
            "_updated": updated.replace(microsecond=updated.microsecond // 1000 * 1000),
        }

    def credentials(self) -> dict:
        """The secret's JSON (an `api_key` secret whose key is `token`)."""
        return {"token": self.token}

    def truth(self, since: datetime, until: datetime = NOW) -> dict[int, dict]:
        """Issues of every project last updated in [since, until), by id."""
        return {i["id"]: i for p in self.projects.values() for i in p["issues"]
                if since <= i["_updated"] < until}

    def route(self, request: Request) -> Response:
        if (request.headers.get("PRIVATE-TOKEN") or bearer(request)) != self.token:
            return json_response({"message": "401 Unauthorized"}, 401)
        limited = self.budget()
        if limited is not None:
            return limited
        raw_path = request.environ.get("RAW_URI", request.path).split("?")[0]
        match = _ROUTE.match(raw_path)
        project = None if not match else self.project(unquote(match[1]))
        if project is None:
            return json_response({"message": "404 Project Not Found"}, 404)
        try:
            rows = self.select(project["issues"], request.args)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        per_page = min(max(int(request.args.get("per_page", 20)), 1), 100)
        page = max(int(request.args.get("page", 1)), 1)
        body = [{k: v for k, v in i.items() if not k.startswith("_")}
                for i in rows[(page - 1) * per_page: page * per_page]]
        headers = self.paging(request, len(rows), page, per_page)
        with self.lock:
            self.served.append(headers)
        return json_response(body, headers={**headers, **self.usage()})

    def project(self, key: str) -> dict | None:
        if key.isdigit():
            return next((p for p in self.projects.values() if p["id"] == int(key)), None)
        return self.projects.get(key)

    @staticmethod
    def select(issues: list[dict], args) -> list[dict]:
        rows = list(issues)
        for name, keep in (("updated_after", lambda i, t: i["_updated"] >= t),
                           ("updated_before", lambda i, t: i["_updated"] <= t)):
            if name in args:
                try:
                    bound = datetime.fromisoformat(args[name].replace("Z", "+00:00"))
                except ValueError:
                    raise ValueError(f"{name} is invalid") from None
                bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
                rows = [i for i in rows if keep(i, bound)]
        if args.get("state") in ("opened", "closed"):
            rows = [i for i in rows if i["state"] == args["state"]]
        order = args.get("order_by", "created_at")
        if order not in ("created_at", "updated_at"):
            raise ValueError("order_by does not have a valid value")
        column = "_updated" if order == "updated_at" else "created_at"
        return sorted(rows, key=lambda i: (i[column], i["id"]), reverse=args.get("sort", "desc") == "desc")

    def paging(self, request: Request, total: int, page: int, per_page: int) -> dict[str, str]:
        pages = max(1, math.ceil(total / per_page))
        base = f"{request.host_url.rstrip('/')}{request.environ.get('RAW_URI', request.path).split('?')[0]}"

        def link(number: int, rel: str) -> str:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
            query.append(("page", str(number)))
            return f'<{base}?{urlencode(query, quote_via=quote)}>; rel="{rel}"'

        has_next, has_prev = page < pages, page > 1
        links = [link(page - 1, "prev")] if has_prev else []
        links += ([link(page + 1, "next")] if has_next else []) + [link(1, "first")]
        headers = {"x-page": str(page), "x-per-page": str(per_page),
                   "x-next-page": str(page + 1) if has_next else "",
                   "x-prev-page": str(page - 1) if has_prev else ""}
        if total <= self.count_limit:
            headers.update({"x-total": str(total), "x-total-pages": str(pages)})
            links.append(link(pages, "last"))
        headers["Link"] = ", ".join(links)
        return headers

    def budget(self) -> Response | None:
        """A fixed window of `rate_limit` requests; over it, a 429 with Retry-After."""
        if self.rate_limit is None:
            return None
        limit, period = self.rate_limit
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= period:
                self.window_start, self.window_used = now, 0
            if self.window_used >= limit:
                self.throttled.append(now)
                wait = max(1, math.ceil(self.window_start + period - now))
                return json_response({"message": "Retry later"}, 429,
                                     {"Retry-After": str(wait), **self.usage()})
            self.window_used += 1
        return None

    def usage(self) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        limit, period = self.rate_limit
        reset = time.time() + max(0.0, self.window_start + period - time.monotonic())
        return {"RateLimit-Limit": str(limit), "RateLimit-Observed": str(self.window_used),
                "RateLimit-Remaining": str(max(0, limit - self.window_used)),
                "RateLimit-Reset": str(math.ceil(reset)),
                "RateLimit-ResetTime": formatdate(reset, usegmt=True)}
