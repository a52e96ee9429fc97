"""The webhook inbox's own signature verification.

Written independently of target_webhook on purpose: the inbox is the receiver that checks the
target, so it must not share (and so repeat) the target's signing code.

Two schemes arrive on every signed request:

- Open Connectors: ``Elements-Webhook-Signature: sha256=<base64 HMAC-SHA256(key, body)>``,
  keyed with the key's UTF-8 bytes. Older Cloud Elements versions sent ``sha1=`` with
  HMAC-SHA1; it is accepted too. The sender signs with its first key only, so during a key
  rotation the receiver accepts a match with any key it knows.
- Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
  ``webhook-signature``, a space-separated list of ``v1,<base64 HMAC-SHA256(secret,
  "{id}.{timestamp}.{body}")>``. A key written ``whsec_<base64>`` is the base64-decoded
  secret; any other key is used as its UTF-8 bytes. Timestamps more than five minutes away
  from the receiver's clock are rejected (replay protection).

Results are ``Verification(ok, reason)``: ``ok`` is True or False, or None when nothing could
be checked because no key is configured. Reasons never contain a key or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

ELEMENTS_HEADER = "Elements-Webhook-Signature"
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
TOLERANCE_SECONDS = 5 * 60

_ELEMENTS_DIGESTS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}


class Verification(NamedTuple):
    """Outcome of checking one signature scheme on one request."""

    ok: bool | None
    reason: str


def as_key_list(keys: str | Sequence[str] | None) -> list[str]:
    """Normalise the ways a key (or a rotation list of keys) can be given."""
    if keys is None:
        return []
    if isinstance(keys, str):
        return [keys] if keys else []
    return [k for k in keys if k]


def standard_webhooks_secret(key: str) -> bytes:
    """The HMAC secret for a Standard Webhooks key: ``whsec_`` keys are base64 encoded."""
    if key.startswith("whsec_"):
        try:
            return base64.b64decode(key[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "a signature key starting with 'whsec_' must be followed by base64 text"
            ) from None
    return key.encode("utf-8")


def elements_signature(key: str, body: bytes, algorithm: str = "sha256") -> str:
    """The ``Elements-Webhook-Signature`` value for ``body`` under ``key``."""
    mac = hmac.new(key.encode("utf-8"), body, _ELEMENTS_DIGESTS[algorithm]).digest()
    return f"{algorithm}=" + base64.b64encode(mac).decode("ascii")


def standard_webhooks_signature(key: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """One ``v1,<base64>`` entry of a ``webhook-signature`` header."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_webhooks_secret(key), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_elements(
    headers: Mapping[str, str], body: bytes, keys: str | Sequence[str] | None
) -> Verification:
    """Check ``Elements-Webhook-Signature`` against every configured key."""
    key_list = as_key_list(keys)
    if not key_list:
        return Verification(None, "no signature key configured")
    value = _header(headers, ELEMENTS_HEADER)
    if value is None:
        return Verification(False, f"missing {ELEMENTS_HEADER} header")
    algorithm, sep, _ = value.strip().partition("=")
    if not sep or algorithm not in _ELEMENTS_DIGESTS:
        return Verification(False, f"{ELEMENTS_HEADER} is not 'sha256=<base64>'")
    received = value.strip().encode("ascii", "replace")
    for key in key_list:
        expected = elements_signature(key, body, algorithm).encode("ascii")
        if hmac.compare_digest(expected, received):
            return Verification(True, f"{algorithm} signature matches")
    return Verification(False, f"{ELEMENTS_HEADER} matches no configured key")


def verify_standard_webhooks(
    headers: Mapping[str, str],
    body: bytes,
    keys: str | Sequence[str] | None,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> Verification:
    """Check the Standard Webhooks headers: any ``v1`` entry matching any key passes."""
    key_list = as_key_list(keys)
    if not key_list:
        return Verification(None, "no signature key configured")
    msg_id = _header(headers, WEBHOOK_ID)
    stamp = _header(headers, WEBHOOK_TIMESTAMP)
    signature = _header(headers, WEBHOOK_SIGNATURE)
    if msg_id is None or stamp is None or signature is None:
        found = ((WEBHOOK_ID, msg_id), (WEBHOOK_TIMESTAMP, stamp), (WEBHOOK_SIGNATURE, signature))
        missing = ", ".join(name for name, value in found if value is None)
        return Verification(False, f"missing {missing} header")
    stamp = stamp.strip()
    try:
        timestamp = int(stamp)
    except ValueError:
        return Verification(False, f"{WEBHOOK_TIMESTAMP} is not unix seconds")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return Verification(
            False, f"{WEBHOOK_TIMESTAMP} is {int(current - timestamp)} s away from now"
        )
    received = [
        entry.encode("ascii", "replace")
        for entry in signature.split(" ")
        if entry.startswith("v1,")
    ]
    if not received:
        return Verification(False, f"{WEBHOOK_SIGNATURE} has no 'v1,' entry")
    for key in key_list:
        expected = standard_webhooks_signature(key, msg_id, stamp, body).encode("ascii")
        # compare against every entry so that timing does not reveal which one matched
        matches = [hmac.compare_digest(expected, entry) for entry in received]
        if any(matches):
            return Verification(True, "v1 signature matches")
    return Verification(False, f"{WEBHOOK_SIGNATURE} matches no configured key")


def verify_all(
    headers: Mapping[str, str],
    body: bytes,
    keys: str | Sequence[str] | None,
    now: float | None = None,
) -> dict[str, Verification]:
    """Both schemes at once, keyed as the inbox reports them."""
    return {
        "elements": verify_elements(headers, body, keys),
        "standard_webhooks": verify_standard_webhooks(headers, body, keys, now=now),
    }
