"""Fan-out: an accounts API whose items are read per account, the child entity's config, and
what its table must hold once every account is loaded."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from tests.support.apis import SimApi, json_response
from utils import bq_helper

SCHEMA_ITEMS = [{"name": "account", "type": "STRING"}, {"name": "id", "type": "INT64"},
                {"name": "updated_at", "type": "TIMESTAMP"}]


class AccountsApi(SimApi):
    """/accounts lists accounts (paged by cursor); /accounts/<id>/items lists each one's items."""

    def __init__(self):
        super().__init__()
        self.accounts = {"acc-1": 3, "acc/2": 2, "acc-3": 0}  # acc/2 needs URL-encoding in a path

    def route(self, request: Request) -> Response:
        if request.path == "/accounts":
            names = list(self.accounts)
            after = int(request.args.get("after", 0))
            body = {"accounts": [{"id": n, "name": n.upper()} for n in names[after:after + 2]]}
            if after + 2 < len(names):
                body["next"] = str(after + 2)
            return json_response(body)
        account = request.path.removeprefix("/accounts/").removesuffix("/items")
        if account not in self.accounts:
            return json_response({"error": f"no account {account}"}, 404)
        return json_response([{"id": i, "updated_at": f"2026-03-0{i + 1}T00:00:00Z"}
                              for i in range(self.accounts[account])])


def child_config(fan_out: dict, dataset: str) -> dict:
    return {"base_url": "${ACCOUNTS_API_URL}", "start_date": "2026-03-01",
            "request": {"path": "/accounts/{item}/items"}, "records": {"path": ""},
            "pagination": {"type": "single"}, "fan_out": fan_out, "cursor_field": "updated_at",
            "merge_keys": ["account", "id"], "target": {"dataset": dataset, "table": "items"}}


def loaded(env, dataset: str) -> set:
    rows = bq_helper.query(f"SELECT account, id FROM `{env.settings.project}.{dataset}.items`").result()
    return {(r.account, r.id) for r in rows}


EXPECTED = {("acc-1", 0), ("acc-1", 1), ("acc-1", 2), ("acc/2", 0), ("acc/2", 1)}
