"""Facebook-Marketing-like async insights: POST /act_<account>/insights with a JSON time_range starts
a report run; GET /<run id> reports its status until "Job Completed"; GET /<run id>/insights pages
the rows with a `paging.next` URL. The access token travels in the query string."""

from __future__ import annotations

import itertools
import json
import random
from datetime import date, timedelta

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential, json_response

ACCESS_TOKEN = fake_credential("fb-token")
ACCOUNTS = ["1001", "1002"]
VERSION = "/v19.0"


class FacebookApi(SimApi):
    def __init__(self, ads_per_account: int = 6, days: int = 8, polls_until_done: int = 2,
                 fail: bool = False):
        super().__init__()
        rng = random.Random(13)
        self.polls_until_done, self.fail = polls_until_done, fail
        self.rows = []
        for account, ad, day in itertools.product(ACCOUNTS, range(ads_per_account), range(days)):
            day_start = (NOW.date() - timedelta(days=days - day)).isoformat()
            self.rows.append({
                "account_id": account, "ad_id": f"{account}{ad:04d}", "ad_name": f"Ad {ad}",
                "date_start": day_start, "date_stop": day_start,
                "impressions": str(rng.randrange(100, 10000)), "spend": f"{rng.uniform(1, 90):.2f}",
                "actions": [{"action_type": "link_click", "value": str(rng.randrange(0, 50))}],
            })
        self.jobs: dict[str, dict] = {}

    def route(self, request: Request) -> Response:
        if request.args.get("access_token") != ACCESS_TOKEN:
            return json_response({"error": {"message": "Invalid OAuth access token.", "code": 190}}, 400)
        parts = request.path.removeprefix(VERSION).strip("/").split("/")
        if request.method == "POST" and len(parts) == 2 and parts[1] == "insights":
            account = parts[0].removeprefix("act_")
            time_range = json.loads(request.args["time_range"])
            run_id = f"rr{len(self.jobs) + 1}"
            self.jobs[run_id] = {"account": account, "since": date.fromisoformat(time_range["since"]),
                                 "until": date.fromisoformat(time_range["until"]), "polls": 0}
            return json_response({"report_run_id": run_id})
        job = self.jobs.get(parts[0])
        if job is None:
            return json_response({"error": {"message": "Unsupported get request."}}, 400)
        if len(parts) == 1:
            job["polls"] += 1
            done = job["polls"] >= self.polls_until_done
            status = ("Job Failed" if self.fail else "Job Completed") if done else "Job Running"
            return json_response({"id": parts[0], "async_status": status,
                                  "async_percent_completion": 100 if done else 50})
        rows = [r for r in self.rows if r["account_id"] == job["account"]
                and job["since"] <= date.fromisoformat(r["date_start"]) <= job["until"]]
        limit, after = int(request.args.get("limit", 25)), int(request.args.get("after", 0))
        body = {"data": rows[after:after + limit], "paging": {"cursors": {"after": str(after + limit)}}}
        if after + limit < len(rows):
            body["paging"]["next"] = (f"{request.base_url}?access_token={ACCESS_TOKEN}"
                                      f"&limit={limit}&after={after + limit}")
        return json_response(body)

    def truth(self) -> dict[tuple, dict]:
        return {(r["account_id"], r["ad_id"], r["date_start"]): r for r in self.rows}
