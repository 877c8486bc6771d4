"""An hourly-stats API read in windows and per account, to see what a run does at once:
`GET /v1/stats?account=A&since=…&until=…&page=N` answers the account's events in [since, until),
`per_page` at a time with `meta.total_pages`; `POST /v1/reports` (same filters as JSON) starts a
report job, `GET /v1/reports/<id>` says `running` until `ready_after` seconds after it was created
(or `failed` for an account in `failing`), then `done`, and `GET /v1/reports/<id>/rows?page=N`
pages its rows. Every request waits `latency` seconds; the simulator records the most requests it
ever had in flight, and when each job was created and first read."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

from werkzeug.wrappers import Request, Response

from ingestion.contract.dates import parse_instant
from tests.support.apis import NOW, SimApi, fake_credential, iso_z, json_response

TOKEN = fake_credential("hourly")
START = NOW.replace(minute=0) - timedelta(hours=24)


class HourlyApi(SimApi):
    def __init__(self, accounts=("a1",), hours: int = 24, per_hour: int = 3, per_page: int = 2,
                 latency: float = 0.02, ready_after: float = 0.0, failing=(), broken_hour: int | None = None,
                 create_status: str | None = None):
        super().__init__()
        self.create_status = create_status  # also say the job's status in the create response
        self.per_page, self.latency, self.ready_after = per_page, latency, ready_after
        self.failing, self.broken_hour = set(failing), broken_hour
        self.events = [{"id": f"{account}-{hour}-{n}", "account": account,
                        "at": iso_z(START + timedelta(hours=hour, minutes=7 * n + 1)), "clicks": hour * n}
                       for account, hour, n in itertools.product(accounts, range(hours), range(per_hour))]
        self.in_flight = self.max_in_flight = 0
        self.jobs: dict[str, dict] = {}
        self.counter = threading.Lock()

    def truth(self) -> dict[str, dict]:
        return {e["id"]: e for e in self.events}

    def __call__(self, environ, start_response):
        with self.counter:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            return super().__call__(environ, start_response)
        finally:
            with self.counter:
                self.in_flight -= 1

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return json_response({"error": "unauthorized"}, 401)
        parts = request.path.strip("/").split("/")
        if parts == ["v1", "stats"]:
            return self.page(self.select(request.args), request.args)
        if parts == ["v1", "reports"] and request.method == "POST":
            return self.create(request.get_json())
        if len(parts) == 3 and parts[:2] == ["v1", "reports"]:
            return self.status(parts[2])
        if len(parts) == 4 and parts[3] == "rows" and parts[2] in self.jobs:
            job = self.jobs[parts[2]]
            job.setdefault("read_at", time.monotonic())
            return self.page(job["rows"], request.args)
        return json_response({"error": "not found"}, 404)

    def select(self, query) -> list[dict]:
        since, until = parse_instant(query["since"]), parse_instant(query["until"])
        return [e for e in self.events if e["account"] == query.get("account", e["account"])
                and since <= parse_instant(e["at"]) < until]

    def page(self, rows: list[dict], args) -> Response:
        if self.broken_hour is not None and "since" in args and \
                parse_instant(args["since"]) == START + timedelta(hours=self.broken_hour):
            return json_response({"error": "this hour is broken"}, 400)
        number = int(args.get("page", 1))
        pages = max(1, -(-len(rows) // self.per_page))
        chosen = rows[(number - 1) * self.per_page:number * self.per_page]
        return json_response({"data": chosen, "meta": {"total_pages": pages}})

    def create(self, body: dict) -> Response:
        with self.lock:
            job_id = f"r{len(self.jobs) + 1}"
            self.jobs[job_id] = {"account": body["account"], "created_at": time.monotonic(),
                                 "rows": self.select(body)}
        status = {"status": self.create_status} if self.create_status else {}
        return json_response({"report_id": job_id, **status})

    def status(self, job_id: str) -> Response:
        job = self.jobs[job_id]
        job.setdefault("polled_at", []).append(time.monotonic())
        if job["account"] in self.failing:
            return json_response({"status": "failed"})
        ready = time.monotonic() - job["created_at"] >= self.ready_after
        return json_response({"status": "done" if ready else "running"})
