import pytest

from heso.channels import registry
from tests.helpers import installed_entry_points

ENTRY_POINTS = """\
[heso.channels]
recorder = tests.channels.recording_channel:RecordingChannel
notaplugin = tests.channels.recording_channel:NotAPlugin
missing = tests.channels.no_such_module:Channel
"""


@pytest.fixture
def test_channels(tmp_path):
    """Install test channels through a real entry point."""
    with installed_entry_points(tmp_path, "heso-test-channels", ENTRY_POINTS, registry):
        yield


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
