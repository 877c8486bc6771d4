"""App Store Connect API: Download Sales and Trends Reports (`GET /v1/salesReports`).

Every request carries `Authorization: Bearer <jwt>`, signed ES256 with the team key (`kid` header),
`iss` the issuer id, `aud` `appstoreconnect-v1`, `exp` at most 20 minutes after `iat`; anything else
is Apple's 401 NOT_AUTHORIZED. The filters `filter[frequency]`, `filter[reportType]`,
`filter[reportSubType]` and `filter[vendorNumber]` are required (`filter[reportDate]` defaults to
the newest report, `filter[version]` to 1_0); a missing or invalid one is a 400 PARAMETER_ERROR.
A vendor number the key's team does not have is 403 FORBIDDEN_ERROR.

A DAILY SALES SUMMARY report is a gzipped tab-separated file (`Content-Type: application/a-gzip`,
no Content-Encoding): Apple's header row, then one line per combination of what the summary
aggregates on (title/SKU, product type, country, currency, price, device, …), dates as
`MM/DD/YYYY`, empty fields for what does not apply. A day without sales, or one not published yet
(daily reports appear the next morning), is a 404 with Apple's JSON error body.
"""

from __future__ import annotations

import gzip
import random
import uuid
from datetime import date, timedelta
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

from tests.support.apis import NOW, SimApi, json_response
from tests.support.apis.tokens import check

VENDOR_NUMBER = "85012345"
ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"
# Summary Sales Report, version 1_0: the header row as Apple writes it.
COLUMNS = ("Provider", "Provider Country", "SKU", "Developer", "Title", "Version", "Product Type Identifier",
           "Units", "Developer Proceeds", "Begin Date", "End Date", "Customer Currency", "Country Code",
           "Currency of Proceeds", "Apple Identifier", "Customer Price", "Promo Code", "Parent Identifier",
           "Subscription", "Period", "Category", "CMB", "Device", "Supported Platforms", "Proceeds Reason",
           "Preserved Pricing", "Client", "Order Type")
# (SKU, Title, Product Type Identifier, Apple Identifier, Parent Identifier, USD price, Subscription, Period)
PRODUCTS = (
    ("acme.notes", "Acme Notes", "1F", "1480001001", "", 0.0, "", ""),
    ("acme.notes.pro", "Notes Pro Yearly", "IAY", "1480001002", "acme.notes", 19.99, "New", "1 Year"),
    ("acme.notes.stickers", "Sticker Pack", "IA1", "1480001003", "acme.notes", 0.99, "", ""),
    ("acme.notes", "Acme Notes", "7F", "1480001001", "", 0.0, "", ""),  # updates
)
# (Country Code, Customer Currency, price factor vs USD)
STOREFRONTS = (("US", "USD", 1.0), ("DE", "EUR", 0.93), ("JP", "JPY", 150.0), ("GB", "GBP", 0.8),
               ("BR", "BRL", 5.0))
DEVICES = ("iPhone", "iPad", "Desktop")
REQUIRED = ("filter[frequency]", "filter[reportType]", "filter[reportSubType]", "filter[vendorNumber]")
ALLOWED = {"filter[frequency]": ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
           "filter[reportType]": ("SALES", "PRE_ORDER", "NEWSSTAND", "SUBSCRIPTION", "SUBSCRIPTION_EVENT",
                                  "SUBSCRIBER", "SUBSCRIPTION_OFFER_CODE_REDEMPTION", "INSTALLS",
                                  "FIRST_ANNUAL", "WIN_BACK_ELIGIBILITY"),
           "filter[reportSubType]": ("SUMMARY", "DETAILED", "SUMMARY_INSTALL_TYPE", "SUMMARY_TERRITORY",
                                     "SUMMARY_CHANNEL")}


def apple_error(status: int, code: str, title: str, detail: str, parameter: str | None = None) -> Response:
    error: dict[str, Any] = {"id": str(uuid.uuid4()), "status": str(status), "code": code, "title": title,
                             "detail": detail}
    if parameter:
        error["source"] = {"parameter": parameter}
    return json_response({"errors": [error]}, status)


def us_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


class AppStoreSalesApi(SimApi):
    """One vendor's daily summary sales reports, 2026-03-01 up to yesterday (today's is not
    published yet); `quiet_days` had no sales at all (404)."""

    def __init__(self, public_key: Any, kid: str, first_day: date = date(2026, 3, 1),
                 quiet_days: tuple[date, ...] = (date(2026, 3, 4),), seed: int = 11):
        super().__init__()
        self.public_key, self.kid = public_key, kid
        self.published_through = NOW.date() - timedelta(days=1)
        self.tokens_seen: dict[str, dict] = {}
        rng = random.Random(seed)
        self.lines: dict[date, list[dict[str, str]]] = {}
        day = first_day
        while day <= NOW.date():
            if day not in quiet_days:
                self.lines[day] = [self.line(rng, day, p, s, d) for p in PRODUCTS for s in STOREFRONTS
                                   for d in DEVICES if rng.random() < 0.4]
            day += timedelta(days=1)

    @staticmethod
    def line(rng: random.Random, day: date, product: tuple, storefront: tuple, device: str) -> dict[str, str]:
        sku, title, ptype, apple_id, parent, usd, subscription, period = product
        country, currency, factor = storefront
        price = round(usd * factor, 0 if currency == "JPY" else 2)
        units = rng.randrange(1, 400)
        if price and rng.random() < 0.1:
            units = -rng.randrange(1, 5)  # refunds: negative units and price
        proceeds = round(price * 0.7, 0 if currency == "JPY" else 2)
        values = {
            "Provider": "APPLE", "Provider Country": "US", "SKU": sku, "Developer": "Acme Software GmbH",
            "Title": title, "Version": "4.2.1" if ptype in ("1F", "7F") else "",
            "Product Type Identifier": ptype,
            "Units": str(units), "Developer Proceeds": f"{proceeds:g}" if proceeds else "0",
            "Begin Date": us_date(day), "End Date": us_date(day), "Customer Currency": currency,
            "Country Code": country, "Currency of Proceeds": currency, "Apple Identifier": apple_id,
            "Customer Price": f"{(price if units > 0 else -price):g}" if price else "0",
            "Promo Code": "", "Parent Identifier": parent, "Subscription": subscription, "Period": period,
            "Category": "Productivity", "CMB": "", "Device": device,
            "Supported Platforms": "iOS" if device != "Desktop" else "macOS",
            "Proceeds Reason": "", "Preserved Pricing": "", "Client": "", "Order Type": "",
        }
        return values

    def truth(self) -> list[dict[str, str]]:
        """Every line of every published report."""
        return [line for day, lines in sorted(self.lines.items()) if day <= self.published_through
                for line in lines]

    def route(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = check(token, self.public_key, self.kid, algorithm="ES256", issuer=ISSUER_ID,
                           audience="appstoreconnect-v1", max_lifetime=1200)
        except jwt.InvalidTokenError:
            return apple_error(401, "NOT_AUTHORIZED", "Authentication credentials are missing or invalid.",
                               "Provide a properly configured and signed bearer token, and make sure that it "
                               "has not expired. Learn more about Generating Tokens for API Requests "
                               "https://developer.apple.com/go/?id=api-generating-tokens")
        with self.lock:
            self.tokens_seen[token] = claims
        if request.path != "/v1/salesReports" or request.method != "GET":
            return apple_error(404, "NOT_FOUND", "The specified resource does not exist",
                               f"The path provided does not match a defined resource type. ({request.path})")
        args = request.args
        for name in REQUIRED:
            if not args.get(name):
                return apple_error(400, "PARAMETER_ERROR.REQUIRED", "A required parameter is missing.",
                                   f"The parameter '{name}' is required.", name)
        for name, allowed in ALLOWED.items():
            if args[name] not in allowed:
                return apple_error(400, "PARAMETER_ERROR.INVALID", "A parameter has an invalid value",
                                   f"'{args[name]}' is not a valid value for the parameter '{name}'. "
                                   f"Allowed values: {', '.join(allowed)}", name)
        if args["filter[vendorNumber]"] != VENDOR_NUMBER:
            return apple_error(403, "FORBIDDEN_ERROR", "The API key in use does not allow this request",
                               f"You are not authorized to access the vendor number "
                               f"'{args['filter[vendorNumber]']}'.")
        version = args.get("filter[version]", "1_0")
        if version != "1_0" or (args["filter[reportType]"], args["filter[reportSubType]"],
                                args["filter[frequency]"]) != ("SALES", "SUMMARY", "DAILY"):
            return apple_error(400, "PARAMETER_ERROR.INVALID", "A parameter has an invalid value",
                               "This simulator serves the DAILY SALES SUMMARY report, version 1_0.")
        text = args.get("filter[reportDate]") or self.published_through.isoformat()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return apple_error(400, "PARAMETER_ERROR.INVALID", "A parameter has an invalid value",
                               f"Invalid date format for the parameter 'filter[reportDate]': '{text}'. "
                               "Expected format: YYYY-MM-DD", "filter[reportDate]")
        if day > self.published_through:
            return apple_error(404, "NOT_FOUND", "The request expected results but none were found",
                               "Report is not available yet. Daily reports for the Americas are available by "
                               "5 am Pacific Time; Japan, Australia, and New Zealand by 5 am Japan Standard "
                               "Time; and 5 am Central European Time for all other territories.")
        lines = self.lines.get(day)
        if not lines:
            return apple_error(404, "NOT_FOUND", "The request expected results but none were found",
                               "There were no sales for the date specified.")
        tsv = "".join("\t".join(line) + "\n" for line in [COLUMNS, *([v[c] for c in COLUMNS] for v in lines)])
        return Response(gzip.compress(tsv.encode()), content_type="application/a-gzip",
                        headers={"Content-Disposition": f"attachment; filename=S_D_{VENDOR_NUMBER}_"
                                                        f"{day:%Y%m%d}.txt.gz"})
