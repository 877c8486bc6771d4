"""Coerce a projected row to the BigQuery schema, so the load job gets canonical values whatever the
API sent: timestamps in any common format become RFC 3339 UTC, numeric and boolean strings become
numbers and booleans, nested RECORD / REPEATED values are coerced field by field.

A value that cannot be read as its column's type raises `CoercionError` naming the column path and
the value; the stager turns that into a reject. Never guessed: ambiguous day/month orders
(`03/04/2026`) and numbers with thousands separators are rejected rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from ingestion.contract.dates import to_rfc3339

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class CoercionError(ValueError):
    """A value that cannot be read as its column's type; `path` names the column (`dims.w`,
    `lines[2].qty`) once the row coercer has added it."""

    def __init__(self, reason: str, path: str = ""):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason, self.path = reason, path

    def within(self, outer: str) -> CoercionError:
        inner = self.path
        joined = outer + ("" if not inner else inner if inner.startswith("[") else "." + inner)
        return CoercionError(self.reason, joined)


def _excerpt(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(value: Any, what: str) -> CoercionError:
    return CoercionError(f"cannot read {_excerpt(value)} as {what}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- scalars -------------------------------------------------------------------------------------

def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):  # an object in a STRING column keeps its JSON text
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _decimal(value: Any, what: str) -> Decimal:
    if _is_number(value):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise _fail(value, what)
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise _fail(value, what) from None
    if not number.is_finite():
        raise _fail(value, f"{what} (not a finite number)")
    return number


def to_int(value: Any) -> int:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:  # the common case, kept cheap
        return value
    number = _decimal(value, "INT64")
    if number != number.to_integral_value():
        raise _fail(value, "INT64 (it has a fraction)")
    if not INT64_MIN <= number <= INT64_MAX:
        raise _fail(value, "INT64 (out of range)")
    return int(number)


def to_float(value: Any) -> float:
    if type(value) is float and math.isfinite(value):  # the common case, kept cheap
        return value
    number = float(_decimal(value, "FLOAT64"))
    if not math.isfinite(number):
        raise _fail(value, "FLOAT64 (out of range)")
    return number


_WIDE = Context(prec=100)  # room for BIGNUMERIC's 38 + 38 digits


def _fixed_point(scale: int, integer_digits: int, what: str) -> Callable[[Any], str]:
    """NUMERIC / BIGNUMERIC as a decimal string (no float on the way: precision is kept), rounded
    half away from zero to the type's scale, as BigQuery rounds."""
    quantum = Decimal(1).scaleb(-scale)

    def coerce(value: Any) -> str:
        number = _decimal(value, what)
        if number.adjusted() >= integer_digits:
            raise _fail(value, f"{what} (more than {integer_digits} integer digits)")
        number = number.quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)
        text = format(number, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text

    return coerce


_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if _is_number(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _fail(value, "BOOL")


# --- dates and times -----------------------------------------------------------------------------

_ZONE_WORDS = re.compile(r"\s*(?:UTC|GMT|Z)$", re.IGNORECASE)
_ZONE_ID = re.compile(r"\[[A-Za-z_/+-]+\]$")  # Java's ZonedDateTime: ...+03:00[Europe/Moscow]
_DOTNET = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")  # Microsoft JSON dates
_SLASHED_YMD = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$")
_MONTH_NAME = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:\s|,|$)",
                         re.IGNORECASE)


def _from_epoch(number: float) -> datetime:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by magnitude
    (seconds up to the year 5138; anything larger is a finer unit)."""
    for divisor in (1, 1e3, 1e6, 1e9):
        if abs(number) / divisor < 1e11:
            return datetime.fromtimestamp(number / divisor, UTC)
    raise ValueError("epoch value out of range")


def _epoch_text(text: str) -> datetime:
    """Epoch digits (9 or more: 8 digits is a basic ISO date), or in scientific notation as
    BigQuery's REST API writes TIMESTAMP cells ("1.7723592E9")."""
    if re.fullmatch(r"-?\d{9,}(\.\d+)?", text):
        return _from_epoch(float(text))
    if re.fullmatch(r"-?\d(\.\d+)?[eE]\+?\d+", text) and abs(float(text)) >= 1e8:
        return _from_epoch(float(text))
    raise ValueError(text)


def _dotnet(text: str) -> datetime:
    if not (match := _DOTNET.match(text)):
        raise ValueError(text)
    return _from_epoch(int(match[1]) / 1000)


def _iso(text: str) -> datetime:
    text = _ZONE_ID.sub("", text)
    if match := _SLASHED_YMD.match(text):
        text = f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}{match[4]}"
    zoned = _ZONE_WORDS.search(text)
    if zoned and text[:zoned.start()]:
        text = text[:zoned.start()] + "+00:00"
    return datetime.fromisoformat(text.upper())  # also a lower-case "t" and "z"


def _written_out(text: str) -> datetime:
    """"March 10, 2026 12:30 PM", "10 Mar 2026": only with a month name, a 4-digit year and a day,
    so nothing vague ("May", "10") is ever guessed into a date."""
    if not (_MONTH_NAME.search(text) and re.search(r"\b\d{4}\b", text)
            and re.search(r"\b\d{1,2}\b", text)):
        raise ValueError(text)
    from dateutil import parser  # only loaded when an API writes dates out in words

    return parser.parse(text)


def _plain_iso(text: str) -> datetime:
    """The common case first, at C speed (digits only would be an epoch, not a basic ISO date)."""
    if text.isdigit():
        raise ValueError(text)
    return datetime.fromisoformat(text)


# Tried in order; each raises ValueError (or TypeError/IndexError) when the text is not its kind.
_TIMESTAMP_PARSERS = (_plain_iso, _epoch_text, _dotnet, _iso, parsedate_to_datetime, _written_out)


def parse_datetime(value: Any) -> datetime:
    """Any common timestamp → datetime (aware when the input names a zone): ISO 8601 in its
    extended and basic forms (`+03:00`, `+0300`, `Z`, a space for the `T`, fractions to the
    nanosecond), a trailing `UTC`/`GMT`, RFC 2822, `YYYY/MM/DD`, `/Date(ms)/`, dates written with a
    month name, and epoch numbers."""
    if _is_number(value):
        return _from_epoch(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not a timestamp")
    text = value.strip()
    for parse in _TIMESTAMP_PARSERS:
        try:
            return parse(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    raise ValueError("not a timestamp")


# Already canonical: returned as sent once the calendar is checked (most APIs send this).
_RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")


def _time_value(kind: str) -> Callable[[Any], Any]:
    def coerce(value: Any) -> Any:
        try:
            parsed = parse_datetime(value)
        except (ValueError, OverflowError, OSError):
            raise _fail(value, kind) from None
        if kind == "TIMESTAMP":  # an instant: a naive value is taken as UTC
            return to_rfc3339(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        if kind == "DATETIME":  # civil time: the wall clock as written, any offset dropped
            return parsed.replace(tzinfo=None).isoformat(sep=" ")
        return parsed.date().isoformat()

    return coerce


_any_timestamp = _time_value("TIMESTAMP")


def to_timestamp(value: Any) -> str:
    if type(value) is str and _RFC3339_UTC.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # the calendar is checked (no 2026-02-30)
            return value
        except ValueError:
            pass  # worded by the full parser
    return _any_timestamp(value)


def to_time(value: Any) -> str:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip()).replace(tzinfo=None).isoformat()
        except ValueError:
            pass
    raise _fail(value, "TIME")


def to_bytes(value: Any) -> str:
    """BYTES travel base64-encoded in NDJSON; anything else would be rejected by the load job."""
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
            return value
        except binascii.Error:
            pass
    raise _fail(value, "BYTES (base64)")


def to_geography(value: Any) -> str:
    return value if isinstance(value, str) else to_string(value)  # WKT, or GeoJSON as text


def as_json(value: Any) -> Any:
    return value


# BigQuery type (either spelling) → coercer. A new type = one function + one line here.
COERCERS: dict[str, Callable[[Any], Any]] = {
    "STRING": to_string,
    "INT64": to_int, "INTEGER": to_int,
    "FLOAT64": to_float, "FLOAT": to_float,
    "NUMERIC": _fixed_point(9, 29, "NUMERIC"),
    "BIGNUMERIC": _fixed_point(38, 38, "BIGNUMERIC"),
    "BOOL": to_bool, "BOOLEAN": to_bool,
    "TIMESTAMP": to_timestamp,
    "DATETIME": _time_value("DATETIME"),
    "DATE": _time_value("DATE"),
    "TIME": to_time,
    "BYTES": to_bytes,
    "GEOGRAPHY": to_geography,
    "JSON": as_json,
}


# --- rows ----------------------------------------------------------------------------------------

MISSING = object()  # a key the record does not have


def coerce_row(row: dict, fields: list[dict]) -> dict:
    """`row` with every value coerced to its field (keys the schema does not know are dropped).
    Compiles the schema on every call: for many rows, build `row_coercer(fields)` once."""
    return row_coercer(fields)(row)


def row_coercer(fields: list[dict]) -> Callable[[dict], dict]:
    """A function coercing rows to `fields`. Built once per schema as straight-line code (see
    `store_lines`), so the per-value work is just the type's own coercer, or none for a value
    already canonical (`python -m bench.coerce`). A field the row lacks is looked up
    case-insensitively, as BigQuery matches field names."""
    scope: dict[str, Any] = {"MISSING": MISSING, "lookup": _lookup}
    lines = ["def coerce_row(row):", "    get = row.get", "    out = {}"]
    for i, f in enumerate(fields):
        name = f["name"]
        lines += [f"    v{i} = get({name!r}, MISSING)",
                  f"    if v{i} is MISSING:",
                  f"        v{i} = lookup(row, {name.lower()!r})"]
        lines += store_lines(i, name, as_is(f), value_coercer(f), field_coercer(f), scope)
    lines.append("    return out")
    exec(compile("\n".join(lines), "<row coercer>", "exec"), scope)
    return scope["coerce_row"]


def _lookup(row: dict, lower: str) -> Any:
    return next((v for k, v in row.items() if k.lower() == lower), None)


# A value that passes its column's test is loaded exactly as sent, without a call (the test is
# written out in the compiled code): the type's coercer would return it unchanged.
_INT64 = "type({v}) is int and -9223372036854775808 <= {v} <= 9223372036854775807"
_FLOAT64 = "type({v}) is float and -INF < {v} < INF"  # also false for NaN
_AS_IS = {"STRING": "type({v}) is str", "BOOL": "type({v}) is bool", "BOOLEAN": "type({v}) is bool",
          "INT64": _INT64, "INTEGER": _INT64, "FLOAT64": _FLOAT64, "FLOAT": _FLOAT64}


def as_is(field: dict) -> str:
    """The field's as-is test, a Python expression over `{v}` ("False": always coerced)."""
    if (field.get("mode") or "").upper() == "REPEATED":
        return "False"
    return _AS_IS.get(field["type"].upper(), "False")


def store_lines(i: int, name: str, test: str, direct: Callable[[Any], Any], full: Callable[[Any], Any],
                scope: dict[str, Any]) -> list[str]:
    """Compiled code (a function body's indentation) putting local `v{i}`, the value of column
    `name`, coerced, into the dict `out` (nothing for NULL); a value that cannot be read raises
    the CoercionError naming the column that `coerce_value` raises. Fast paths that give exactly
    what `coerce_value` gives: a value passing the as-is `test` is stored unchanged, a TIMESTAMP
    already RFC 3339 UTC too (`to_timestamp`'s own test, written out), and an object in a RECORD
    column goes straight to its compiled row coercer."""
    scope.update({f"direct{i}": direct, f"full{i}": full, "coerce": coerce_value, "INF": math.inf,
                  "rfc3339_utc": _RFC3339_UTC.fullmatch, "fromisoformat": datetime.fromisoformat,
                  "CoercionError": CoercionError})
    v, key = f"v{i}", repr(name)
    slow = [f"    elif (value := coerce({v}, {key}, direct{i}, full{i})) is not None:",
            f"        out[{key}] = value"]
    if direct is to_timestamp:
        return ["    canonical = False",
                f"    if type({v}) is str and rfc3339_utc({v}) is not None:",
                "        try:",
                f"            fromisoformat({v})  # the calendar (no 2026-02-30)",
                "            canonical = True",
                "        except ValueError:",
                "            pass",
                "    if canonical:",
                f"        out[{key}] = {v}", *slow]
    if (record := getattr(direct, "record", None)) is not None:
        scope[f"record{i}"] = record
        return [f"    if type({v}) is dict:",
                "        try:",
                f"            out[{key}] = record{i}({v})",
                "        except CoercionError as exc:",
                f"            raise exc.within({key}) from None", *slow]
    return [f"    if {test.format(v=v)}:", f"        out[{key}] = {v}", *slow]


def coerce_value(value: Any, name: str, direct: Callable[[Any], Any], full: Callable[[Any], Any]) -> Any:
    """`value` of column `name` through the type's own coercer `direct` (the common case), or on
    a missing value or an error through `full` (the mode, and blank strings as NULL), whose error
    names the column."""
    try:
        if value is None or value is MISSING:
            return full(None)  # NULL, or the error of a REQUIRED column
        try:
            return direct(value)
        except CoercionError:
            return full(value)  # a blank/"null" is NULL; else the same error
    except CoercionError as exc:
        raise exc.within(name) from None


# An empty string (or "null") where a number, a date or a boolean belongs means no value: NULL.
_TEXT_TYPES = {"STRING", "JSON", "BYTES", "GEOGRAPHY"}


def _is_blank(text: str) -> bool:
    text = text.strip()
    return not text or (len(text) == 4 and text.lower() == "null")


def field_coercer(field: dict) -> Callable[[Any], Any]:
    mode = (field.get("mode") or "NULLABLE").upper()
    coerce_one = _value_coercer(field)
    blank_is_null = field["type"].upper() not in _TEXT_TYPES
    if mode == "REPEATED":
        def repeated(value: Any) -> list | None:
            if value is None:
                return None
            out = []
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                if item is None or (blank_is_null and isinstance(item, str) and _is_blank(item)):
                    continue  # BigQuery arrays cannot hold NULL
                try:
                    out.append(coerce_one(item))
                except CoercionError as exc:
                    raise exc.within(f"[{index}]") from None
            return out

        return repeated

    def single(value: Any) -> Any:
        if blank_is_null and isinstance(value, str) and _is_blank(value):
            value = None
        if value is None:
            if mode == "REQUIRED":
                raise CoercionError("REQUIRED, but missing or null")
            return None
        return coerce_one(value)

    return single


def value_coercer(field: dict) -> Callable[[Any], Any]:
    """The coercer of a non-null value of the field (of a REPEATED field: its whole array);
    `field_coercer` adds the mode and reads a blank string as NULL."""
    if (field.get("mode") or "").upper() == "REPEATED":
        return field_coercer(field)
    return _value_coercer(field)


def _value_coercer(field: dict) -> Callable[[Any], Any]:
    if field["type"].upper() not in ("RECORD", "STRUCT"):
        return COERCERS.get(field["type"].upper(), as_json)
    coerce_record = row_coercer(field.get("fields", []))

    def nested(value: Any) -> dict:
        if isinstance(value, str):  # some APIs send nested objects as JSON text
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if not isinstance(value, dict):
            raise _fail(value, "RECORD (an object)")
        return coerce_record(value)

    nested.record = coerce_record  # an object's fast path in compiled code (store_lines)
    return nested
