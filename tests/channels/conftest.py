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


@pytest.fixture
def receiver(httpserver):
    """A local receiver answering 200 to POST /hook."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    return httpserver


@pytest.fixture
def unused_tcp_port():
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
