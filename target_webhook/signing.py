"""Signing callbacks, and verifying them on the receiving side (pure: no I/O).

Two schemes are sent at once when a signature key is set:

- Open Connectors: ``Elements-Webhook-Signature: sha256=`` + base64(HMAC-SHA256(key as
  UTF-8 bytes, body)). With several keys (a rotation) only the first key signs: the header
  never carried more than one signature.
- Standard Webhooks: ``webhook-id`` (the message id, the same on every retry),
  ``webhook-timestamp`` (unix seconds, fresh on every attempt) and ``webhook-signature``:
  space-separated ``v1,`` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")), one
  per key. A key written ``whsec_<base64>`` means the base64-decoded bytes; any other key
  is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import typing as t

ELEMENTS_SIGNATURE = "Elements-Webhook-Signature"
ELEMENTS_ID = "Elements-Webhook-Id"
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"

STANDARD_WEBHOOKS = "standard-webhooks"
ELEMENTS = "elements"

_WHSEC = "whsec_"


class InvalidKeyError(ValueError):
    """A signature key cannot be used (the message never contains the key)."""


class SignatureError(ValueError):
    """A received request's signature does not verify."""


def keys_of(value: str | t.Sequence[str] | None) -> tuple[str, ...]:
    """The signature_key setting as a tuple of keys (empty when signing is off)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(value)


def standard_secret(key: str) -> bytes:
    """The HMAC secret Standard Webhooks uses for a key.

    Raises:
        InvalidKeyError: a ``whsec_`` key whose rest is not base64.
    """
    if key.startswith(_WHSEC):
        try:
            return base64.b64decode(key[len(_WHSEC) :], validate=True)
        except (binascii.Error, ValueError):
            msg = "a signature key starting with 'whsec_' must continue in base64"
            raise InvalidKeyError(msg) from None
    return key.encode()


def elements_signature(key: str, body: bytes) -> str:
    """``Elements-Webhook-Signature`` value for a body."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def standard_signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,`` signature of Standard Webhooks."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Signer:
    """Signs request bodies with every configured key."""

    def __init__(self, keys: t.Sequence[str]) -> None:
        """Prepare the secrets (raises InvalidKeyError for an unusable key)."""
        self._keys = tuple(keys)
        self._secrets = tuple(standard_secret(key) for key in self._keys)

    def __bool__(self) -> bool:
        """Whether any key is set."""
        return bool(self._keys)

    def __repr__(self) -> str:
        """Never show keys."""
        return f"Signer(<{len(self._keys)} keys>)"

    def body_headers(self, body: bytes) -> dict[str, str]:
        """Headers that depend on the body only (the same on every attempt)."""
        if not self._keys:
            return {}
        return {ELEMENTS_SIGNATURE: elements_signature(self._keys[0], body)}

    def attempt_headers(
        self,
        message_id: str,
        body: bytes,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        """Standard Webhooks headers for one attempt (fresh timestamp each time)."""
        if not self._keys:
            return {}
        stamp = int(time.time()) if timestamp is None else timestamp
        signatures = " ".join(
            standard_signature(secret, message_id, stamp, body)
            for secret in self._secrets
        )
        return {
            WEBHOOK_ID: message_id,
            WEBHOOK_TIMESTAMP: str(stamp),
            WEBHOOK_SIGNATURE: signatures,
        }


def _header(headers: t.Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(
    body: bytes,
    headers: t.Mapping[str, str],
    key: str | t.Sequence[str],
    *,
    scheme: str = STANDARD_WEBHOOKS,
    tolerance_seconds: int = 300,
    now: int | None = None,
) -> None:
    """Check a received callback's signature, for receivers.

    Args:
        body: the request body exactly as received (bytes, before any JSON parsing).
        headers: the request headers (any mapping; names are matched case-insensitively).
        key: the signature key, or several during a key rotation (any one may match).
        scheme: ``"standard-webhooks"`` (``webhook-*`` headers, default) or
            ``"elements"`` (``Elements-Webhook-Signature``, as Open Connectors sent).
        tolerance_seconds: Standard Webhooks only: how far ``webhook-timestamp`` may be
            from now (replay protection).
        now: unix seconds to compare against (default: the current time).

    Raises:
        SignatureError: the signature is missing, stale or does not match.
    """
    keys = keys_of(key)
    if not keys:
        msg = "no signature key given to verify with"
        raise SignatureError(msg)
    if scheme == ELEMENTS:
        received = _header(headers, ELEMENTS_SIGNATURE)
        if not received:
            msg = f"missing {ELEMENTS_SIGNATURE} header"
            raise SignatureError(msg)
        for candidate in keys:
            if hmac.compare_digest(elements_signature(candidate, body), received):
                return
        msg = f"{ELEMENTS_SIGNATURE} does not match"
        raise SignatureError(msg)
    if scheme != STANDARD_WEBHOOKS:
        msg = f"unknown signature scheme {scheme!r}"
        raise ValueError(msg)
    message_id = _header(headers, WEBHOOK_ID)
    stamp_text = _header(headers, WEBHOOK_TIMESTAMP)
    received = _header(headers, WEBHOOK_SIGNATURE)
    if not message_id or not stamp_text or not received:
        msg = "missing webhook-id, webhook-timestamp or webhook-signature header"
        raise SignatureError(msg)
    try:
        stamp = int(stamp_text)
    except ValueError:
        msg = "webhook-timestamp is not a number of seconds"
        raise SignatureError(msg) from None
    current = int(time.time()) if now is None else now
    if abs(current - stamp) > tolerance_seconds:
        msg = "webhook-timestamp is too far from now (stale or replayed message)"
        raise SignatureError(msg)
    offered = [part for part in received.split(" ") if part.startswith("v1,")]
    for candidate in keys:
        expected = standard_signature(standard_secret(candidate), message_id, stamp, body)
        for signature in offered:
            if hmac.compare_digest(expected, signature):
                return
    msg = "webhook-signature does not match"
    raise SignatureError(msg)
