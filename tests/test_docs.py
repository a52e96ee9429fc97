"""The README's settings tables and meltano.yml's settings say what the plugins declare."""

from __future__ import annotations

import yaml

from demo import settings_docs


def test_readme_and_meltano_yml_are_in_step_with_the_plugins():
    assert settings_docs.check() == [], "run `make docs` and commit the result"


def test_every_meltano_setting_is_a_plugin_setting_with_label_description_and_kind():
    project = yaml.safe_load(settings_docs.MELTANO_YML.read_text())
    plugins = project["plugins"]["extractors"] + project["plugins"]["loaders"]
    for plugin in plugins:
        declared = settings_docs.about(plugin["name"])["settings"]["properties"]
        names = [s["name"] for s in plugin["settings"]]
        assert names == list(declared)
        for setting in plugin["settings"]:
            assert setting["label"] and setting["description"] and setting["kind"]
            secret = bool(declared[setting["name"]].get("secret"))
            assert setting.get("sensitive", False) == secret, setting["name"]


def test_the_job_selects_what_open_connectors_polled_and_runs_every_5_minutes():
    project = yaml.safe_load(settings_docs.MELTANO_YML.read_text())
    tap = project["plugins"]["extractors"][0]
    assert tap["select"] == ["organisations.*", "contacts.*", "leads.*", "opportunities.*"]
    assert "state" in tap["capabilities"]
    assert project["schedules"][0]["interval"] == "*/5 * * * *"
    assert project["jobs"][0]["tasks"] == ["tap-insightly target-webhook"]
    assert project["default_environment"] in {e["name"] for e in project["environments"]}
