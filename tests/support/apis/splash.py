"""Splash-like events API: page numbers, modified_after/modified_before filters, OAuth2 with
refresh tokens that rotate on every refresh."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from werkzeug.wrappers import Request, Response

from ingestion.contract.dates import parse_instant
from tests.support.apis import NOW, OAuthProvider, SimApi, fake_credential, iso_z, json_response, page_slice

CLIENT_ID, CLIENT_SECRET = "splash-client", fake_credential("splash")
FIRST_REFRESH_TOKEN = fake_credential("rt")


class SplashApi(SimApi):
    def __init__(self, events: int = 230, expire_tokens_after: int | None = None):
        super().__init__()
        self.oauth = OAuthProvider(CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN)
        self.expire_tokens_after = expire_tokens_after
        rng = random.Random(7)
        self.events = []
        for i in range(1, events + 1):
            modified = NOW - timedelta(days=9) + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))
            self.events.append({
                "id": 5000 + i, "title": f"Launch party #{i}", "event_type": rng.choice(["webinar", "party"]),
                "modified_at": iso_z(modified), "event_start": iso_z(modified + timedelta(days=20)),
                "venue": {"name": f"Hall {i % 7}", "address": {"city": rng.choice(["Berlin", "Austin"])}},
                "rsvp_count": rng.randrange(0, 500),
            })

    def route(self, request: Request) -> Response:
        if request.path == "/oauth/v2/token" and request.method == "POST":
            return self.oauth.token(request)
        if request.path != "/v1/events":
            return json_response({"error": "not found"}, 404)
        if not self.oauth.authorized(request):
            return json_response({"error": "invalid_token"}, 401)
        if self.expire_tokens_after and len(self.calls("/v1/events")) == self.expire_tokens_after:
            self.oauth.expire_access_tokens()  # the token lapses mid-run: the next page gets a 401
        after = parse_instant(request.args["modified_after"])
        before = parse_instant(request.args["modified_before"])
        page, limit = int(request.args.get("page", 1)), min(int(request.args.get("limit", 20)), 50)
        rows = [e for e in self.events if after <= parse_instant(e["modified_at"]) < before]
        rows.sort(key=lambda e: (e["modified_at"], e["id"]))
        return json_response({"data": page_slice(rows, page, limit),
                              "pagination": {"page": page, "limit": limit, "total": len(rows),
                                             "total_pages": math.ceil(len(rows) / limit)}})

    def truth(self) -> dict[int, dict]:
        return {e["id"]: e for e in self.events}
