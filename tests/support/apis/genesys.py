"""Genesys-like analytics: POST a query with an interval "start/end" and paging {pageSize,
pageNumber} in the body; OAuth2 client credentials from a separate login host. An empty result
has no `conversations` key at all."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from werkzeug.wrappers import Request, Response

from ingestion.contract.dates import parse_instant
from tests.support.apis import NOW, OAuthProvider, SimApi, fake_credential, iso_z, json_response, page_slice

CLIENT_ID, CLIENT_SECRET = "genesys-client", fake_credential("genesys")
QUERY_PATH = "/api/v2/analytics/conversations/details/query"


class GenesysApi(SimApi):
    def __init__(self, conversations: int = 140):
        super().__init__()
        self.oauth = OAuthProvider(CLIENT_ID, CLIENT_SECRET)
        rng = random.Random(3)
        self.conversations = []
        for _ in range(conversations):
            start = NOW - timedelta(days=2) + timedelta(seconds=rng.randrange(0, 2 * 86400 - 7200))
            self.conversations.append({
                "conversationId": str(uuid.UUID(int=rng.getrandbits(128))),
                "conversationStart": iso_z(start),
                "conversationEnd": iso_z(start + timedelta(seconds=rng.randrange(30, 3600))),
                "originatingDirection": rng.choice(["inbound", "outbound"]),
                "participants": [
                    {"participantId": f"p{n}", "purpose": purpose,
                     "sessions": [{"mediaType": "voice", "sessionId": f"s{n}"}]}
                    for n, purpose in enumerate(["customer", "agent"])
                ],
            })

    def route(self, request: Request) -> Response:
        if request.path == "/oauth/token" and request.method == "POST":
            return self.oauth.token(request)
        if request.path != QUERY_PATH or request.method != "POST":
            return json_response({"message": "not found"}, 404)
        if not self.oauth.authorized(request):
            return json_response({"message": "authentication required"}, 401)
        query = request.get_json()
        start, end = (parse_instant(v) for v in query["interval"].split("/"))
        paging = query.get("paging", {})
        page, size = paging.get("pageNumber", 1), paging.get("pageSize", 25)
        rows = sorted((c for c in self.conversations if start <= parse_instant(c["conversationStart"]) < end),
                      key=lambda c: c["conversationStart"])
        if not rows:
            return json_response({"totalHits": 0})
        return json_response({"conversations": page_slice(rows, page, size), "totalHits": len(rows)})

    def truth(self) -> dict[str, dict]:
        return {c["conversationId"]: c for c in self.conversations}
