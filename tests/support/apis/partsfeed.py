"""An XML product feed in the classic style: `GET /feed/parts.xml?modifiedSince=<ISO>&page=N`
answers one namespaced document per page, `<catalog page="1" pages="3" total="25">` with a
`<part>` element per record (attributes for the id and modification time, a price with a currency
attribute, a repeated `<tag>`), and an empty `<catalog pages="0"/>` when nothing changed. An API
key goes in the `X-Feed-Key` header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, fake_credential

API_KEY = fake_credential("feed")
NAMESPACE = "urn:example:parts:v2"
PER_PAGE = 10


class PartsFeedApi(SimApi):
    def __init__(self, count: int = 25):
        super().__init__()
        self.parts = [{
            "id": f"P-{n:04d}", "name": f"Bolt & nut {n}" if n % 5 == 0 else f"Part {n}",
            "price": Decimal(n) * Decimal("0.75"), "currency": "EUR" if n % 2 else "USD",
            "in_stock": n % 3 != 0, "tags": [f"t{n % 4}", "feed"] if n % 2 else [f"t{n % 4}"],
            "updated": NOW - timedelta(days=8) + timedelta(hours=5 * n),
        } for n in range(1, count + 1)]

    def truth(self) -> dict[str, dict]:
        return {p["id"]: p for p in self.parts}

    def route(self, request: Request) -> Response:
        if request.headers.get("X-Feed-Key") != API_KEY:
            return Response("<error>forbidden</error>", status=403, content_type="application/xml")
        since = datetime.fromisoformat(request.args["modifiedSince"].replace("Z", "+00:00"))
        until = datetime.fromisoformat(request.args["modifiedBefore"].replace("Z", "+00:00"))
        page = int(request.args.get("page", 1))
        chosen = [p for p in self.parts if since <= p["updated"] < until]
        pages = -(-len(chosen) // PER_PAGE)
        body = "".join(self.element(p) for p in chosen[(page - 1) * PER_PAGE: page * PER_PAGE])
        document = (f'<?xml version="1.0" encoding="UTF-8"?>\n<catalog xmlns="{NAMESPACE}" page="{page}" '
                    f'pages="{pages}" total="{len(chosen)}">{body}</catalog>')
        return Response(document, content_type="application/xml; charset=utf-8")

    @staticmethod
    def element(part: dict) -> str:
        tags = "".join(f"<tag>{t}</tag>" for t in part["tags"])
        updated = part["updated"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f'<part id="{part["id"]}" updated="{updated}"><name>{escape(part["name"])}</name>'
                f'<price currency="{part["currency"]}">{part["price"]}</price>'
                f'<inStock>{str(part["in_stock"]).lower()}</inStock><tags>{tags}</tags></part>')
