"""Signatures: known answers computed independently, and the receivers' verify helper."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from target_webhook import SignatureError, verify
from target_webhook.signing import (
    ELEMENTS,
    Signer,
    elements_signature,
    standard_secret,
    standard_signature,
)

# Published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

KEY = "s3cr3t-key"
BODY = b'{"message":{"eventId":"abc","events":[]}}'


def b64_hmac(key: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()


def test_standard_webhooks_published_vector() -> None:
    secret = standard_secret(SPEC_SECRET)
    assert standard_signature(secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = Signer([SPEC_SECRET]).attempt_headers(SPEC_ID, SPEC_BODY, SPEC_TIMESTAMP)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_elements_signature_is_hmac_of_the_exact_body() -> None:
    expected = "sha256=" + b64_hmac(KEY.encode(), BODY)
    assert elements_signature(KEY, BODY) == expected
    assert Signer([KEY]).body_headers(BODY) == {"Elements-Webhook-Signature": expected}


def test_plain_key_is_used_as_utf8_for_standard_webhooks() -> None:
    key = "clé-ü"
    expected = "v1," + b64_hmac(key.encode("utf-8"), b"m1.1700000000." + BODY)
    assert Signer([key]).attempt_headers("m1", BODY, 1700000000)["webhook-signature"] == expected


def test_whsec_key_is_base64_decoded_for_standard_but_not_for_elements() -> None:
    raw = b"\x00\x01binary-secret\xff"
    key = "whsec_" + base64.b64encode(raw).decode()
    signer = Signer([key])
    assert signer.attempt_headers("m", BODY, 5)["webhook-signature"] == "v1," + b64_hmac(
        raw,
        b"m.5." + BODY,
    )
    assert signer.body_headers(BODY)["Elements-Webhook-Signature"] == "sha256=" + b64_hmac(
        key.encode(),
        BODY,
    )


def test_several_keys_sign_standard_with_each_and_elements_with_the_first() -> None:
    signer = Signer(["old", "new"])
    signature = signer.attempt_headers("m", BODY, 7)["webhook-signature"]
    assert signature.split(" ") == [
        "v1," + b64_hmac(b"old", b"m.7." + BODY),
        "v1," + b64_hmac(b"new", b"m.7." + BODY),
    ]
    assert signer.body_headers(BODY)["Elements-Webhook-Signature"] == "sha256=" + b64_hmac(
        b"old",
        BODY,
    )


def test_no_key_no_headers() -> None:
    signer = Signer([])
    assert not signer
    assert signer.body_headers(BODY) == {}
    assert signer.attempt_headers("m", BODY) == {}


def test_signer_repr_hides_keys() -> None:
    assert KEY not in repr(Signer([KEY]))


def test_verify_accepts_a_fresh_signature_and_the_spec_vector() -> None:
    headers = Signer([KEY]).attempt_headers("m1", BODY, 1000)
    verify(BODY, headers, KEY, now=1000)
    verify(
        SPEC_BODY,
        {
            "Webhook-Id": SPEC_ID,
            "Webhook-Timestamp": str(SPEC_TIMESTAMP),
            "Webhook-Signature": SPEC_SIGNATURE,
        },
        SPEC_SECRET,
        now=SPEC_TIMESTAMP + 10,
    )


@pytest.mark.parametrize(
    ("body", "key", "now"),
    [
        (BODY + b" ", KEY, 1000),  # body changed
        (BODY, "other", 1000),  # wrong key
        (BODY, KEY, 1000 + 301),  # stale
        (BODY, KEY, 1000 - 301),  # from the future
    ],
)
def test_verify_rejects(body: bytes, key: str, now: int) -> None:
    headers = Signer([KEY]).attempt_headers("m1", BODY, 1000)
    with pytest.raises(SignatureError):
        verify(body, headers, key, now=now)


def test_verify_rejects_missing_headers_and_changed_id() -> None:
    headers = Signer([KEY]).attempt_headers("m1", BODY, 1000)
    with pytest.raises(SignatureError, match="missing"):
        verify(BODY, {}, KEY, now=1000)
    with pytest.raises(SignatureError):
        verify(BODY, {**headers, "webhook-id": "m2"}, KEY, now=1000)


def test_verify_during_rotation_accepts_any_listed_key() -> None:
    headers = Signer(["new"]).attempt_headers("m1", BODY, 1000)
    verify(BODY, headers, ["old", "new"], now=1000)
    headers = Signer(["old", "new"]).attempt_headers("m1", BODY, 1000)
    verify(BODY, headers, "new", now=1000)


def test_verify_elements_scheme() -> None:
    headers = Signer([KEY]).body_headers(BODY)
    verify(BODY, headers, KEY, scheme=ELEMENTS)
    with pytest.raises(SignatureError):
        verify(BODY + b"x", headers, KEY, scheme=ELEMENTS)
    with pytest.raises(SignatureError):
        verify(BODY, {}, KEY, scheme=ELEMENTS)
