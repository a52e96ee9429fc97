"""Known-answer and tamper tests of the inbox's own signature verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import pytest

from insightly_sandbox import verify

# Published with the Standard Webhooks specification (also in
# ../shared/reference/open-connectors/EVENTS-NOTES.md).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


def sw_headers(signature: str, msg_id: str = SW_ID, stamp: int = SW_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_standard_webhooks_published_vector_signs() -> None:
    assert verify.standard_webhooks_signature(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_standard_webhooks_published_vector_verifies_at_its_time() -> None:
    result = verify.verify_standard_webhooks(sw_headers(SW_SIGNATURE), SW_BODY, SW_SECRET, now=SW_TIMESTAMP + 10)
    assert result.ok is True


def test_vector_matches_the_reference_notes() -> None:
    notes = REFERENCE / "open-connectors" / "EVENTS-NOTES.md"
    if not notes.exists():
        pytest.skip(f"{notes} is absent (a clone without ../shared/reference)")
    text = notes.read_text()
    for constant in (SW_SECRET, SW_ID, str(SW_TIMESTAMP), SW_BODY.decode(), SW_SIGNATURE):
        assert constant in text


def test_standard_webhooks_rejects_tampered_body_id_and_stale_timestamp() -> None:
    headers = sw_headers(SW_SIGNATURE)
    later = SW_TIMESTAMP + 1
    assert verify.verify_standard_webhooks(headers, SW_BODY + b" ", SW_SECRET, now=later).ok is False
    assert verify.verify_standard_webhooks(sw_headers(SW_SIGNATURE, msg_id="msg_other"), SW_BODY, SW_SECRET, now=later).ok is False
    stale = verify.verify_standard_webhooks(headers, SW_BODY, SW_SECRET, now=SW_TIMESTAMP + 301)
    assert stale.ok is False and "away from now" in stale.reason
    future = verify.verify_standard_webhooks(headers, SW_BODY, SW_SECRET, now=SW_TIMESTAMP - 301)
    assert future.ok is False
    assert verify.verify_standard_webhooks(headers, SW_BODY, SW_SECRET, now=SW_TIMESTAMP + 300).ok is True


def test_standard_webhooks_accepts_any_entry_of_a_rotation_list() -> None:
    listed = f"v1,{base64.b64encode(b'x' * 32).decode()} {SW_SIGNATURE}"
    result = verify.verify_standard_webhooks(sw_headers(listed), SW_BODY, ["other", SW_SECRET], now=SW_TIMESTAMP)
    assert result.ok is True


def test_standard_webhooks_missing_headers_and_no_key() -> None:
    missing = verify.verify_standard_webhooks({"webhook-id": SW_ID}, SW_BODY, SW_SECRET)
    assert missing.ok is False
    assert "webhook-timestamp" in missing.reason and "webhook-signature" in missing.reason
    assert verify.verify_standard_webhooks(sw_headers(SW_SIGNATURE), SW_BODY, None).ok is None


def test_plain_key_is_used_as_utf8_bytes_for_standard_webhooks() -> None:
    key, body, msg_id, stamp = "clé-secrète", b'{"a":1}', "evt_1", int(time.time())
    mac = hmac.new(key.encode("utf-8"), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    assert verify.verify_standard_webhooks(sw_headers(expected, msg_id, stamp), body, key).ok is True


def test_elements_signature_fixed_key_and_body_computed_with_hmac() -> None:
    key, body = "my-signing-key", b'{"message": {"events": []}}'
    expected = "sha256=" + base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    assert verify.elements_signature(key, body) == expected
    headers = {"elements-webhook-signature": expected}
    assert verify.verify_elements(headers, body, key).ok is True
    assert verify.verify_elements(headers, body, ["rotated-new", key]).ok is True
    assert verify.verify_elements(headers, body + b"\n", key).ok is False
    assert verify.verify_elements(headers, body, "wrong-key").ok is False
    assert verify.verify_elements({}, body, key).ok is False
    assert verify.verify_elements({"Elements-Webhook-Signature": "md5=abc"}, body, key).ok is False
    assert verify.verify_elements(headers, body, None).ok is None


def test_elements_legacy_sha1_is_accepted() -> None:
    key, body = "k", b"{}"
    legacy = "sha1=" + base64.b64encode(hmac.new(b"k", body, hashlib.sha1).digest()).decode()
    assert verify.verify_elements({"Elements-Webhook-Signature": legacy}, body, key).ok is True


def test_malformed_whsec_key_is_a_clear_error_without_the_key() -> None:
    with pytest.raises(ValueError) as info:
        verify.standard_webhooks_secret("whsec_not*base64!")
    assert "not*base64" not in str(info.value)
    assert "whsec_" in str(info.value)


def test_reasons_never_contain_keys_or_signatures() -> None:
    results = [
        verify.verify_standard_webhooks(sw_headers(SW_SIGNATURE), SW_BODY + b"x", SW_SECRET, now=SW_TIMESTAMP),
        verify.verify_elements({"Elements-Webhook-Signature": "sha256=AAAA"}, b"{}", "topsecret"),
    ]
    for result in results:
        assert SW_SECRET not in result.reason and "topsecret" not in result.reason
        assert SW_SIGNATURE not in result.reason
