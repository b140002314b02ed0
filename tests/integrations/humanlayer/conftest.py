import pytest

from tests.helpers import serve_wsgi


@pytest.fixture
def live_server(app):
    with serve_wsgi(app) as url:
        yield url
