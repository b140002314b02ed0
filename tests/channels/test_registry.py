"""Channel discovery through entry points; a broken plugin is reported, never fatal."""

from heso.channels import registry
from tests.channels.recording_channel import NotAPlugin, RecordingChannel


def test_installed_plugins_are_found_and_broken_ones_reported(test_channels, client, team):
    loaded = registry.channels()
    assert isinstance(loaded["recorder"].loaded, RecordingChannel)
    assert loaded["recorder"].distribution == "heso-test-channels" and loaded["recorder"].version == "1.0"
    assert loaded["notaplugin"].loaded is None and "ChannelPlugin" in loaded["notaplugin"].error
    assert loaded["missing"].loaded is None and "ModuleNotFoundError" in loaded["missing"].error
    listing = {item["name"]: item for item in client.get("/v1/channels", headers=team.headers("ops")).json["data"]}
    assert listing["recorder"]["loaded"] is True
    assert listing["recorder"]["config_schema"]["properties"]["url"]["type"] == "string"
    assert listing["missing"]["loaded"] is False and listing["missing"]["error"]
    assert listing["callback"]["loaded"] is True
    assert "missing" not in registry.installed_channel_names()


def test_allowlist_limits_loaded_channels(test_channels, monkeypatch):
    monkeypatch.setenv("HESO_CHANNELS", "recorder")
    registry.reset()
    assert set(registry.channels()) == {"recorder"}


def test_interface_problems_are_named():
    assert registry.interface_problems(RecordingChannel, "recorder") == []
    assert "differs" in registry.interface_problems(RecordingChannel, "other")[0]
    assert "not a subclass" in registry.interface_problems(NotAPlugin)[0]

    class NoSend(RecordingChannel):
        send = None

    class Abstract(registry.ChannelPlugin):
        name = "abstract"
        config_schema = RecordingChannel.config_schema

    assert any("abstract" in problem for problem in registry.interface_problems(Abstract))
