"""Settings rules checked in-process (the CLI's one-line output is in test_cli.py)."""

from __future__ import annotations

import pytest

from singer_sdk.exceptions import ConfigValidationError
from target_webhook.target import Settings, TargetWebhook, settings_problems, signature_keys


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "https://hooks.example.com:8443/in?token=x",
        "http://127.0.0.1:8080/in",
        "http://127.9.9.9/in",
        "http://localhost/in",
        "http://[::1]:9000/in",
    ],
)
def test_acceptable_callback_urls(url: str) -> None:
    assert settings_problems({"callback_url": url}) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.1/in", "allow_insecure_http"),
        ("http://hooks.example.com/in", "allow_insecure_http"),
        ("ftp://hooks.example.com/in", "absolute http(s) URL"),
        ("hooks.example.com/in", "absolute http(s) URL"),
        ("https:///in", "absolute http(s) URL"),
        ("https://hooks.example.com:99999/in", "invalid port"),
        ("https://hooks.example.com/a b", "spaces"),
    ],
)
def test_rejected_callback_urls(url: str, says: str) -> None:
    problems = settings_problems({"callback_url": url})
    assert any(says in problem for problem in problems), problems


def test_allow_insecure_http_permits_plain_http_elsewhere() -> None:
    config = {"callback_url": "http://hooks.example.com/in", "allow_insecure_http": True}
    assert settings_problems(config) == []


def test_signature_keys_forms() -> None:
    assert signature_keys(None) == ()
    assert signature_keys("") == ()
    assert signature_keys("k") == ("k",)
    assert signature_keys(["a", "b"]) == ("a", "b")
    assert signature_keys('["a", "b"]') == ("a", "b")
    with pytest.raises(ValueError, match="JSON list"):
        signature_keys('["a", 1]')
    with pytest.raises(ValueError, match="JSON list"):
        signature_keys(["[broken"])


def test_defaults_are_applied() -> None:
    target = TargetWebhook(config={"callback_url": "https://hooks.example.com/in"})
    settings = target.settings
    assert settings == Settings.from_config(target.config)
    assert settings.events_per_request == 10
    assert settings.max_concurrent_requests == 4
    assert settings.request_timeout_seconds == 30
    assert settings.retry.max_retries == 8
    assert settings.envelope.payload_format == "open-connectors"
    assert settings.envelope.element_key == "insightly"
    assert settings.envelope.hub_key == "crm"
    assert settings.signature_keys == ()
    assert target.config["validate_records"] is False
    rules = settings.rules_for("contacts", ("CONTACT_ID",))
    assert (rules.created_date_field, rules.updated_date_field) == (
        "DATE_CREATED_UTC",
        "DATE_UPDATED_UTC",
    )


def test_errors_name_settings_but_never_secret_values() -> None:
    config = {
        "callback_url": "https://hooks.example.com/in",
        "signature_key": {"nested": "SECRET-VALUE"},
        "headers": {"Authorization": ["SECRET-HEADER"]},
        "events_per_request": 5000,
    }
    with pytest.raises(ConfigValidationError) as caught:
        TargetWebhook(config=config)
    text = "; ".join(caught.value.errors)
    assert "signature_key" in text
    assert "headers.Authorization" in text
    assert "events_per_request" in text
    assert "at most 1000" in text
    assert "SECRET" not in text
