"""The channel contract suite runs over every channel this repository ships (issue 14)."""

import importlib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from heso.channels.registry import GROUP
from heso.testing import ChannelContract

SHIPPED = sorted(path.name for path in (Path(__file__).resolve().parents[3] / "plugins" / "channels").iterdir()
                 if (path / "setup.cfg").exists())


def test_the_shipped_channels_are_found():
    assert {"email", "webhook", "slack"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_channel_has_a_contract_test(name):
    installed = {entry.name: entry for entry in entry_points(group=GROUP)}
    assert name in installed, f"plugins/channels/{name} is not installed (make install)"
    module = importlib.import_module(f"tests.plugins.channels.{name}.test_contract")
    suites = [value for value in vars(module).values()
              if isinstance(value, type) and issubclass(value, ChannelContract) and value is not ChannelContract]
    assert [suite.plugin_class for suite in suites] == [installed[name].load()]
