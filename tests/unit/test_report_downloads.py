"""Report jobs whose results are a file to download (`async_job.result_url_path`), against an Amazon
Ads-like reporting API and a storage host on 127.0.0.1: the pre-signed file URL on the other host
receives no credentials and is redacted; a relative URL on the API's host gets them; a null URL is a
report without data; the `{job_id}` results path still pages."""

from __future__ import annotations

import csv
import gzip
import io
import json
import secrets
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from ingestion.contract.config import load_entity
from ingestion.contract.errors import ApiError, ConfigError
from ingestion.contract.redact import redact
from tests.support.apis import SimApi, fake_credential, json_response
from tests.support.configs import MINIMAL, entity_config
from tests.support.extraction import extract

TOKEN = fake_credential("ads-token")
AUTH = {"type": "bearer", "secret": "ads-api"}
ROWS = [{"id": str(i), "name": f"Campaign {i}", "clicks": str(i * 10)} for i in range(1, 6)]
FIELDS = [{"name": "id", "type": "INT64"}, {"name": "name", "type": "STRING"},
          {"name": "clicks", "type": "INT64"}]


def gzip_csv(rows: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode())


class Storage(SimApi):
    """A storage host serving pre-signed URLs: the signature in the query is the only credential."""

    def __init__(self):
        super().__init__()
        self.signature = secrets.token_hex(32)
        self.files: dict[str, bytes] = {}

    def route(self, request: Request) -> Response:
        if request.args.get("X-Amz-Signature") != self.signature:
            return Response("<Error><Code>AccessDenied</Code></Error>", 403, content_type="application/xml")
        if "Authorization" in request.headers:  # S3 refuses a second authentication mechanism
            return Response("<Error><Code>InvalidArgument</Code></Error>", 400,
                            content_type="application/xml")
        return Response(self.files[request.path], content_type="application/octet-stream")


class ReportingApi(SimApi):
    """Amazon Ads v3 style: POST /reporting/reports → reportId; GET /reporting/reports/<id> → status
    PENDING, then COMPLETED with the file `url` (from `self.url_for(report id)`)."""

    def __init__(self, url_for, polls_until_done: int = 2):
        super().__init__()
        self.url_for, self.polls_until_done = url_for, polls_until_done
        self.polls: dict[str, int] = {}

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return json_response({"code": "UNAUTHORIZED"}, 401)
        if request.method == "POST" and request.path == "/reporting/reports":
            report = f"r{len(self.polls) + 1}"
            self.polls[report] = 0
            return json_response({"reportId": report, "status": "PENDING"})
        if request.path.startswith("/downloads/"):
            return Response(gzip_csv(ROWS), content_type="application/octet-stream")
        report = request.path.rsplit("/", 2)[-1]
        if request.path.endswith("/rows"):  # the paged results of a {job_id} results path
            report = request.path.rsplit("/", 2)[-2]
            return json_response({"rows": ROWS if report in self.polls else []})
        self.polls[report] += 1
        if self.polls[report] < self.polls_until_done:
            return json_response({"reportId": report, "status": "PROCESSING", "url": None})
        return json_response({"reportId": report, "status": "COMPLETED", "url": self.url_for(report)})


def report_entity(base_url: str, **job) -> dict:
    return {
        "base_url": base_url, "http": {"max_retries": 1, "backoff_factor": 0},
        "request": {"path": "/reporting/reports"},
        "records": {"path": "", "format": "csv", "compression": "gzip"},
        "date_filter": {"format": "iso_date"},
        "async_job": {"create": {"path": "/reporting/reports",
                                 "body": {"startDate": "{start}", "endDate": "{end}"}},
                      "job_id_path": "reportId", "poll": {"path": "/reporting/reports/{job_id}"},
                      "status_path": "status", "done_values": ["COMPLETED"], "failed_values": ["FAILED"],
                      "poll_interval_seconds": 0.01, "result_url_path": "url", **job}}


def run(entity_spec: dict) -> list:
    return extract(entity_config(entity_spec, FIELDS), AUTH, {"token": TOKEN})


@pytest.fixture
def storage(serve):
    store = Storage()
    return store, serve(store, "STORAGE_URL")


def test_a_presigned_file_on_another_host_gets_no_credentials(serve, storage):
    store, storage_url = storage
    store.files["/reports/r1.csv.gz"] = gzip_csv(ROWS)
    presigned = (f"{storage_url}/reports/r1.csv.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 f"&X-Amz-Expires=3600&X-Amz-Signature={store.signature}")
    api = ReportingApi(lambda report: presigned)
    pages = run(report_entity(serve(api, "ADS_URL")))

    assert [p.records for p in pages] == [ROWS]  # one page: the file, parsed as gzip CSV
    [download] = store.requests
    assert "Authorization" not in download.headers
    assert [r.method for r in api.requests] == ["POST", "GET", "GET"]  # create, poll ×2; no results request
    assert json.loads(api.requests[0].data) == {"startDate": "2026-03-01", "endDate": "2026-03-02"}
    stored_url = pages[0].response.url
    assert store.signature not in stored_url and "X-Amz-Signature=REDACTED" in stored_url
    assert store.signature not in redact(f"download failed: {presigned}")


def test_a_relative_url_is_on_the_api_and_gets_its_credentials(serve):
    api = ReportingApi(lambda report: f"/downloads/{report}.csv.gz")
    pages = run(report_entity(serve(api, "ADS_URL")))
    assert [p.records for p in pages] == [ROWS]
    assert api.requests[-1].path == "/downloads/r1.csv.gz"
    assert api.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_null_url_is_a_report_without_data_and_a_missing_one_an_error(serve):
    api = ReportingApi(lambda report: None)
    assert run(report_entity(serve(api, "ADS_URL"))) == []
    with pytest.raises(ApiError, match=r"report job r1: result_url_path: path 'file.location' not found"):
        run(report_entity(serve(ReportingApi(lambda report: None), "ADS2_URL"),
                          result_url_path="file.location"))


def test_an_expired_presigned_url_fails_naming_the_redacted_url(serve, storage):
    _, storage_url = storage
    api = ReportingApi(lambda report: f"{storage_url}/reports/{report}.csv.gz?X-Amz-Signature={'0' * 64}")
    with pytest.raises(Exception, match=r"HTTP 403 .*X-Amz-Signature=REDACTED") as error:
        run(report_entity(serve(api, "ADS_URL")))
    assert "0" * 64 not in str(error.value)


def test_without_result_url_path_the_job_id_results_path_still_pages(serve):
    api = ReportingApi(lambda report: None)
    spec = report_entity(serve(api, "ADS_URL"))
    del spec["async_job"]["result_url_path"]
    spec["request"] = {"path": "/reporting/reports/{job_id}/rows"}
    spec["records"] = {"path": "rows"}
    pages = run(spec)
    assert [p.records for p in pages] == [ROWS]
    assert api.requests[-1].path == "/reporting/reports/r1/rows"


def test_a_downloaded_report_is_one_page_not_paginated(tmp_path: Path):
    spec = {**MINIMAL, **report_entity("https://advertising-api.amazon.com"),
            "pagination": {"type": "page_number", "page_param": "page"}}
    for folder, doc in (("config", spec), ("schema", FIELDS)):
        (tmp_path / folder / "acme").mkdir(parents=True)
        (tmp_path / folder / "acme" / "items.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"async_job\.result_url_path: .*pagination must be single"):
        load_entity("acme/items", tmp_path / "config", tmp_path / "schema")
