"""Singer target that delivers records as change events to a webhook."""

from sdk_startup import defer_unused_sdk_imports
from target_webhook.signing import SignatureError, verify

defer_unused_sdk_imports()  # before target.py, or anything, imports singer_sdk

__all__ = ["SignatureError", "verify"]
