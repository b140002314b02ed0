import sys

import pytest

from heso.channels import registry

ENTRY_POINTS = """\
[heso.channels]
recorder = tests.channels.recording_channel:RecordingChannel
notaplugin = tests.channels.recording_channel:NotAPlugin
missing = tests.channels.no_such_module:Channel
"""


@pytest.fixture
def test_channels(tmp_path):
    """Install test channels through a real entry point: a dist-info directory on sys.path."""
    dist_info = tmp_path / "heso_test_channels-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: heso-test-channels\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(tmp_path))
    registry.reset()
    yield
    sys.path.remove(str(tmp_path))
    registry.reset()
