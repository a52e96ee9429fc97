"""Singer target that delivers records as change events to a webhook."""

from target_webhook.signing import SignatureError, verify

__all__ = ["SignatureError", "verify"]
