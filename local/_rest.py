"""Small helpers shared by the REST stand-ins: Google-style JSON responses and errors."""

from __future__ import annotations

import json

from werkzeug.wrappers import Response

_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "ALREADY_EXISTS"}


def json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def google_error(status: int, message: str) -> Response:
    """The error envelope google-api-core turns into the matching `google.api_core.exceptions` type."""
    return json_response(
        {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}, status
    )
