"""Jira-Service-Management-like requests API: start/limit paging that ends on `isLastPage` (the
server may cap `limit`), a JQL-style `jql` filter on the update time, Basic auth (email, API token)
and the values nested the Jira way (createdDate.iso8601, currentStatus.status…)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, basic_credentials, fake_credential, json_response

EMAIL, API_TOKEN = "bot@example.com", fake_credential("jira")
_JQL = re.compile(r'^updated >= "([^"]+)" AND updated < "([^"]+)" ORDER BY updated ASC$')
MAX_LIMIT = 30
SITE_ZONE = timezone(timedelta(hours=3))


def jira_time(value: datetime) -> dict:
    """Jira's date object: `iso8601` in the site's zone with a colon-less offset (`+0300`)."""
    local = value.astimezone(SITE_ZONE)
    return {"iso8601": local.strftime("%Y-%m-%dT%H:%M:%S%z"), "epochMillis": int(value.timestamp() * 1000)}


class JiraApi(SimApi):
    def __init__(self, issues: int = 95):
        super().__init__()
        rng = random.Random(5)
        self.issues = []
        for i in range(1, issues + 1):
            created = NOW - timedelta(days=4) + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
            updated = created + timedelta(minutes=rng.randrange(0, 600))
            self.issues.append({
                "issueId": str(10000 + i), "issueKey": f"SD-{i}", "requestTypeId": str(rng.randrange(1, 4)),
                "createdDate": jira_time(created),
                "currentStatus": {"status": rng.choice(["Open", "Waiting", "Done"]),
                                  "statusDate": jira_time(updated)},
                "reporter": {"emailAddress": f"user{i}@example.com", "displayName": f"User {i}"},
                "_updated": updated,
            })

    def route(self, request: Request) -> Response:
        if basic_credentials(request) != (EMAIL, API_TOKEN):
            return json_response({"errorMessage": "Client must be authenticated"}, 401)
        if request.path != "/rest/servicedeskapi/request":
            return json_response({"errorMessage": "Not found"}, 404)
        match = _JQL.match(request.args.get("jql", ""))
        if not match:
            return json_response({"errorMessage": f"bad jql: {request.args.get('jql')}"}, 400)
        low, high = (datetime.strptime(v, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) for v in match.groups())
        start, limit = int(request.args.get("start", 0)), min(int(request.args.get("limit", 50)), MAX_LIMIT)
        rows = sorted((i for i in self.issues if low <= i["_updated"] < high), key=lambda i: i["_updated"])
        values = [{k: v for k, v in i.items() if k != "_updated"} for i in rows[start:start + limit]]
        return json_response({"size": len(values), "start": start, "limit": limit,
                              "isLastPage": start + limit >= len(rows), "values": values})

    def truth(self) -> dict[str, dict]:
        return {i["issueKey"]: i for i in self.issues}
