"""Metrc-like per-license API: every call names a licenseNumber, filters on lastModifiedStart/End
(at most 24 hours apart), pages with pageNumber/pageSize, and uses Basic auth (vendor key, user key)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from werkzeug.wrappers import Request, Response

from ingestion.contract.dates import parse_instant
from tests.support.apis import NOW, SimApi, basic_credentials, fake_credential, json_response, page_slice

LICENSES = ["LIC-001", "LIC-002", "LIC-003"]
VENDOR_KEY, USER_KEY = fake_credential("vendor"), fake_credential("user")


class MetrcApi(SimApi):
    def __init__(self, per_license: int = 60):
        super().__init__()
        rng = random.Random(11)
        self.packages: dict[str, list[dict]] = {}
        for license_number in LICENSES:
            self.packages[license_number] = [{
                "Id": i,  # ids repeat across licenses: the license is part of the key
                "Label": f"1A40{license_number[-3:]}{i:06d}",
                "PackageType": rng.choice(["Product", "ImmaturePlant"]),
                "Quantity": rng.randrange(1, 100),
                "Item": {"Name": rng.choice(["Gummies", "Flower 3.5g"]), "ProductCategoryName": "Edible"},
                "LastModified": (NOW - timedelta(minutes=rng.randrange(10, 3 * 24 * 60))).isoformat(),
            } for i in range(1, per_license + 1)]

    def route(self, request: Request) -> Response:
        if basic_credentials(request) != (VENDOR_KEY, USER_KEY):
            return json_response({"Message": "Authorization has been denied for this request."}, 401)
        if request.path != "/packages/v2/active":
            return json_response({"Message": "No HTTP resource was found"}, 404)
        license_number = request.args.get("licenseNumber")
        if license_number not in self.packages:
            return json_response({"Message": f"No valid license for {license_number}"}, 401)
        start = parse_instant(request.args["lastModifiedStart"])
        end = parse_instant(request.args["lastModifiedEnd"])
        if end - start > timedelta(hours=24):
            return json_response({"Message": "The date range cannot exceed 24 hours."}, 400)
        page, size = int(request.args.get("pageNumber", 1)), int(request.args.get("pageSize", 20))
        rows = sorted((p for p in self.packages[license_number]
                       if start <= parse_instant(p["LastModified"]) < end), key=lambda p: p["Id"])
        return json_response({"Data": page_slice(rows, page, size), "Total": len(rows), "PageNumber": page,
                              "PageSize": size, "TotalPages": math.ceil(len(rows) / size)})

    def truth(self) -> dict[tuple[str, int], dict]:
        return {(lic, p["Id"]): p for lic, packages in self.packages.items() for p in packages}
