"""Amplitude-like export API: GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH (both hours
inclusive) answers a zip archive of gzipped JSON-lines files, one per hour; 404 when the range has
no data; hours newer than the availability lag are refused."""

from __future__ import annotations

import gzip
import io
import json
import random
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, basic_credentials, fake_credential, json_response

API_KEY, SECRET_KEY = fake_credential("amp-key"), fake_credential("amp-secret")
LAG = timedelta(hours=2)
PROJECT = "187520"


def amp_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


class AmplitudeApi(SimApi):
    def __init__(self, hours: int = 10, quiet_hours: tuple[int, ...] = (3,)):
        super().__init__()
        rng = random.Random(9)
        first_hour = NOW.replace(minute=0) - LAG - timedelta(hours=hours)
        self.events = []
        for h in range(hours + 3):  # also data in the hours still inside the lag
            hour = first_hour + timedelta(hours=h)
            if hour.hour in quiet_hours:
                continue
            for _ in range(rng.randrange(5, 40)):
                event_time = hour + timedelta(seconds=rng.randrange(0, 3600))
                self.events.append({
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "event_type": rng.choice(["open", "buy"]),
                    "user_id": f"u{rng.randrange(100)}", "event_time": amp_time(event_time),
                    "server_upload_time": amp_time(event_time + timedelta(seconds=rng.randrange(0, 50))),
                    "event_properties": {"plan": rng.choice(["free", "pro"])},
                })

    @staticmethod
    def upload_hour(event: dict) -> datetime:
        return datetime.strptime(event["server_upload_time"][:13], "%Y-%m-%d %H").replace(tzinfo=UTC)

    def route(self, request: Request) -> Response:
        if basic_credentials(request) != (API_KEY, SECRET_KEY):
            return json_response({"error": "invalid api key"}, 401)
        if request.path != "/api/2/export":
            return json_response({"error": "not found"}, 404)
        start, end = (datetime.strptime(request.args[k], "%Y%m%dT%H").replace(tzinfo=UTC)
                      for k in ("start", "end"))
        if end + timedelta(hours=1) > NOW - LAG:
            return Response("Data for the requested hours is not yet complete.", status=400)
        buffer, found = io.BytesIO(), False
        with zipfile.ZipFile(buffer, "w") as archive:
            hour = start
            while hour <= end:
                events = [e for e in self.events if self.upload_hour(e) == hour]
                if events:
                    found = True
                    lines = "\n".join(json.dumps(e) for e in events).encode()
                    name = f"{PROJECT}/{PROJECT}_{hour:%Y-%m-%d_%-H}#0.json.gz"
                    archive.writestr(name, gzip.compress(lines))
                hour += timedelta(hours=1)
        if not found:
            return Response("Raw data files were not found.", status=404)
        return Response(buffer.getvalue(), content_type="application/zip")

    def truth(self, before: datetime) -> dict[str, dict]:
        return {e["uuid"]: e for e in self.events if self.upload_hour(e) < before}
