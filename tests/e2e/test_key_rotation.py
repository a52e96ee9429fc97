"""Key rotation through Meltano: a JSON list of keys in the environment, both schemes signed."""

from __future__ import annotations

import json

from demo.pipeline import MeltanoPipeline
from insightly_sandbox import InboxClient, running_inbox
from target_webhook import verify
from tests.pipeline_fixtures import API_KEY

NEW_KEY, OLD_KEY = "rotation-new-key-93b1", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_receivers_on_the_old_key_keep_verifying_during_a_rotation(meltano_plugins,
                                                                   sandbox_url, tmp_path):
    with running_inbox(signature_key=OLD_KEY) as url:
        pipeline = MeltanoPipeline(api_url=sandbox_url, api_key=API_KEY, callback_url=url,
                                   signature_key=json.dumps([NEW_KEY, OLD_KEY]),
                                   system_db=tmp_path / "meltano.db")
        result = pipeline.run()
        assert result.returncode == 0, result.output[-3000:]
        assert NEW_KEY not in result.output and OLD_KEY not in result.output
        requests = InboxClient(url).requests()
    assert requests
    for request in requests:
        # the receiver still on the old key verifies the Standard Webhooks signature list ...
        assert request["verified"]["standard_webhooks"] is True
        # ... while Elements-Webhook-Signature is made with the first (new) key
        assert request["verified"]["elements"] is False
        body = request["body"].encode()
        verify(body, request["headers"], NEW_KEY, scheme="elements")
        verify(body, request["headers"], NEW_KEY, scheme="standard-webhooks")
