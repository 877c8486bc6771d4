"""A local Secret Manager stand-in, reached by the real `SecretManagerServiceClient` over REST.

No emulator for Secret Manager exists, so this implements the handful of v1 REST calls the product
makes (create secret, add, access and destroy versions). Values are kept in a JSON file that is git-ignored
(`.local/`), so secrets never enter the repository.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import google_crc32c
from werkzeug.wrappers import Request, Response

_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "ALREADY_EXISTS"}


def json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def google_error(status: int, message: str) -> Response:
    """The error envelope google-api-core turns into the matching `google.api_core.exceptions` type."""
    return json_response(
        {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}, status
    )

_SECRET = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+)$")
_ADD = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+):addVersion$")
_ACCESS = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+)/versions/([^/:]+):access$")
_DESTROY = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+)/versions/(\d+):destroy$")
_CREATE = re.compile(r"^/v1/projects/([^/]+)/secrets$")


class SecretManagerStandIn:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if method == "POST" and (m := _CREATE.match(path)):
            return self._create(m[1], request.args.get("secretId", ""))
        if method == "GET" and (m := _SECRET.match(path)):
            return self._get(m[1], m[2])
        if method == "POST" and (m := _ADD.match(path)):
            payload = (request.get_json(silent=True) or {}).get("payload", {})
            return self._add_version(m[1], m[2], payload.get("data", ""))
        if method == "GET" and (m := _ACCESS.match(path)):
            return self._access(m[1], m[2], m[3])
        if method == "POST" and (m := _DESTROY.match(path)):
            return self._destroy(m[1], m[2], int(m[3]))
        return google_error(404, f"no such route: {method} {path}")

    def _create(self, project: str, secret: str) -> Response:
        data = self._load()
        key = f"projects/{project}/secrets/{secret}"
        if key in data:
            return google_error(409, f"Secret [{key}] already exists.")
        data[key] = []
        self._save(data)
        return json_response({"name": key, "replication": {"automatic": {}}})

    def _get(self, project: str, secret: str) -> Response:
        key = f"projects/{project}/secrets/{secret}"
        if key not in self._load():
            return google_error(404, f"Secret [{key}] not found.")
        return json_response({"name": key, "replication": {"automatic": {}}})

    def _add_version(self, project: str, secret: str, data_b64: str) -> Response:
        data = self._load()
        key = f"projects/{project}/secrets/{secret}"
        if key not in data:
            return google_error(404, f"Secret [{key}] not found or has no versions.")
        data[key].append({"data": data_b64, "created": datetime.now(UTC).isoformat()})
        self._save(data)
        version = len(data[key])
        return json_response({"name": f"{key}/versions/{version}", "state": "ENABLED"})

    def _access(self, project: str, secret: str, version: str) -> Response:
        key = f"projects/{project}/secrets/{secret}"
        versions = self._load().get(key) or []
        if not versions:
            return google_error(404, f"Secret [{key}] not found or has no versions.")
        number = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
        if not 1 <= number <= len(versions):
            return google_error(404, f"Secret Version [{key}/versions/{version}] not found.")
        if versions[number - 1].get("state") == "DESTROYED":
            return google_error(400, f"Secret Version [{key}/versions/{number}] is in DESTROYED state.")
        raw = base64.b64decode(versions[number - 1]["data"])
        return json_response({
            "name": f"{key}/versions/{number}",
            "payload": {"data": versions[number - 1]["data"],
                        "dataCrc32c": str(google_crc32c.value(raw))},
        })

    def _destroy(self, project: str, secret: str, number: int) -> Response:
        data = self._load()
        key = f"projects/{project}/secrets/{secret}"
        versions = data.get(key) or []
        if not 1 <= number <= len(versions):
            return google_error(404, f"Secret Version [{key}/versions/{number}] not found.")
        if versions[number - 1].get("state") == "DESTROYED":
            return google_error(400, f"Secret Version [{key}/versions/{number}] is already destroyed.")
        versions[number - 1] = {"state": "DESTROYED", "created": versions[number - 1]["created"]}
        self._save(data)
        return json_response({"name": f"{key}/versions/{number}", "state": "DESTROYED"})
