import pytest

from heso.extensions import db
from heso.policy import sync


@pytest.fixture
def bind(app, team):
    """Bind the ``team`` fixture's team to a policy source (as ``heso policy source set`` does)."""

    def bind_source(name, config, poll_seconds=30):
        with app.app_context():
            sync.set_source(team.id, name, config, poll_seconds, actor="test")
            db.session.remove()

    return bind_source


@pytest.fixture
def refresh(app, team):
    """Load the team's bundle from its source now; returns the source status."""

    def run():
        with app.app_context():
            try:
                return sync.refresh(team.id)
            finally:
                db.session.remove()

    return run
