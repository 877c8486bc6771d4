"""A change log read by sequence number, in the style of audit-log and `_changes` feeds:
`GET /v1/changes?after_seq=N&limit=L` answers the entries with a larger sequence number, oldest
first, as `{"changes": [...], "next": "/v1/changes?after_seq=M&limit=L"}` with `next` null on the
last page. There is no date filter: the sequence number is the only way to ask for what is new.
A bearer token is required."""

from __future__ import annotations

from datetime import timedelta

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, iso_z, json_response

TOKEN = fake_credential("changelog")


class ChangeLogApi(SimApi):
    def __init__(self, count: int = 23, limit: int = 10, nothing_new: int | None = None):
        super().__init__()
        self.limit, self.entries = limit, []
        self.nothing_new = nothing_new  # some logs answer an error status when nothing follows
        self.append(count)

    def append(self, count: int) -> None:
        for _ in range(count):
            seq = len(self.entries) + 1
            self.entries.append({"seq": seq, "object_id": f"obj-{seq % 7}",
                                 "action": "update" if seq % 3 else "create",
                                 "at": iso_z(NOW - timedelta(days=2) + timedelta(minutes=7 * seq))})

    def truth(self) -> dict[int, dict]:
        return {e["seq"]: e for e in self.entries}

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return json_response({"error": "unauthorized"}, 401)
        after = int(request.args.get("after_seq", 0))
        limit = min(int(request.args.get("limit", self.limit)), self.limit)
        chosen = [e for e in self.entries if e["seq"] > after][:limit]
        if not chosen and self.nothing_new:
            return json_response({"error": {"code": "no_changes", "message": f"nothing after {after}"}},
                                 self.nothing_new)
        more = chosen and chosen[-1]["seq"] < self.entries[-1]["seq"]
        following = f"/v1/changes?after_seq={chosen[-1]['seq']}&limit={limit}" if more else None
        return json_response({"changes": chosen, "next": following})

    def asked_after(self) -> list[str | None]:
        """The `after_seq` of every request, in order."""
        return [r.args.get("after_seq") for r in self.requests]
