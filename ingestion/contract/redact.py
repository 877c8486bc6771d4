"""One redaction for every text that leaves the process: log lines, run-ledger rows, job objects,
rejects, raw-page metadata and the messages of exceptions handed back to Pub/Sub.

Two nets. Every credential value the run has seen (secret fields, OAuth tokens) is registered and
replaced wherever it appears: as is, URL-encoded, JSON-escaped, or inside base64 (an API echoing a
`Basic` header). And generic credential shapes are masked whatever their value: `Authorization:`
headers, `Bearer`/`Basic` credentials, `access_token=`-style parameters and `"password": "…"`-style
JSON fields — an API may echo a credential this process never registered (its own session token).
Raw pages are data, not messages: they get only the first net (`scrub`), so replays stay faithful.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "REDACTED"
_MASK_BYTES = MASK.encode()
_MIN_TEXT = 4  # shorter values (a region, a flag) would mask ordinary words
_MIN_DATA = 8  # raw pages and base64 forms: only values long enough not to collide with data
_forms: dict[str, int] = {}  # form → the shortest original value it stands for
_text_forms: tuple[str, ...] = ()  # every form, longest first: no partial masks left over
_data_forms: tuple[bytes, ...] = ()  # what `scrub` masks, encoded, in the same order
_lock = threading.Lock()
_CREDENTIAL_KEYS = (r"access_token|refresh_token|id_token|client_secret|password|passwd|api_key|"
                    r"apikey|private_key|assertion|secret")
_GENERIC = [
    # Authorization: Bearer <v> / "authorization": "Basic <v>" / authorization=<v>
    (re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
                r"((?:bearer|basic|token|digest|sso-key)\s+)?[^\s\"',;&}]+"), rf"\1\2{MASK}"),
    (re.compile(r"\b(Bearer|Basic) [A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    (re.compile(rf"(?i)\b({_CREDENTIAL_KEYS})=[^&\s\"'<>]+"), rf"\1={MASK}"),
    (re.compile(rf"(?i)(\"(?:{_CREDENTIAL_KEYS})\"\s*:\s*)\"(?:[^\"\\]|\\.)*\""), rf'\1"{MASK}"'),
]


def register_secret(value: str) -> None:
    """Mask `value` (and its encoded forms) from now on, in this process."""
    if not isinstance(value, str) or len(value) < _MIN_TEXT:
        return
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    if len(value) >= _MIN_DATA:
        forms |= base64_forms(value.encode())
    global _text_forms, _data_forms
    with _lock:
        for form in forms:
            if len(form) >= _MIN_TEXT:
                _forms[form] = min(_forms.get(form, len(value)), len(value))
        _text_forms = tuple(sorted(_forms, key=len, reverse=True))
        _data_forms = tuple(form.encode() for form in _text_forms if _forms[form] >= _MIN_DATA)


def base64_forms(secret: bytes) -> set[str]:
    """The base64 text `secret` takes inside any longer base64 string (`user:password` in a Basic
    header): one form per alignment, cut to the characters only the secret's bytes determine."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        form = encoded[(8 * shift + 5) // 6: 8 * (shift + len(secret)) // 6]
        if len(form) >= _MIN_DATA:
            forms.add(form)
    return forms


def redact(text: str) -> str:
    """`text` with every registered secret form and every generic credential shape masked."""
    if not text:
        return text
    for form in _text_forms:  # sorted when registered: every log line and page comes here
        if form in text:
            text = text.replace(form, MASK)
        text = _mask_cut_tail(text, form)
    if _may_hold_credential(text):
        for pattern, replacement in _GENERIC:
            text = pattern.sub(replacement, text)
    return text


# A word each generic shape needs (in any case): a text without one of them holds none.
_KEYWORDS = ("authorization", "bearer", "basic", *_CREDENTIAL_KEYS.split("|"))


def _may_hold_credential(text: str) -> bool:
    """Whether a generic shape may match `text`: ASCII text is searched for the shapes' words
    once lowercased (~1 µs for a page URL, against ~10 µs for the four patterns: every page and
    log line comes here); other text always goes through the patterns, whose case-insensitive
    matching knows more equivalences than `lower()` (`ſ` matches `s`)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _KEYWORDS)


def _mask_cut_tail(text: str, form: str) -> str:
    """A text cut to a length before it got here (a body excerpt, a capped message) may end in
    the first part of a secret: mask that part too."""
    head = form[:_MIN_TEXT]
    at = text.find(head, max(0, len(text) - len(form)))
    while at != -1:
        if form.startswith(text[at:]):
            return text[:at] + MASK
        at = text.find(head, at + 1)
    return text


def redact_values(values: dict) -> dict:
    """`values` with every text value redacted (a ledger row, object metadata)."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in values.items()}


def scrub(content: bytes) -> bytes:
    """Raw bytes (an API page as stored) with registered secrets of 8+ characters masked: APIs
    echo query-string tokens back in their next-page links. No generic shapes: it is data.
    Every page of a run goes through here: the forms are encoded once, when registered."""
    for form in _data_forms:
        content = content.replace(form, _MASK_BYTES)
    return content


def redact_exception(exc: BaseException) -> BaseException:
    """Mask secrets in the messages of `exc` and the exceptions chained to it, in place, before
    it is handed to the runtime (which prints it, with its chain, where no filter applies)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        message = str(current)
        if redact(message) != message:
            current.args = (redact(message),)
        current = current.__cause__ or current.__context__
    return exc
