"""The plugin author's kit: contract tests for a channel, a notification factory, and a HESO app
on a migrated database (the core's tables and each installed plugin's).

Installed as a pytest plugin (entry point ``pytest11``), so a channel's own test suite
can write::

    from heso.testing import ChannelContract

    class TestMyChannel(ChannelContract):
        plugin_class = MyChannel
        valid_config = {"url": "https://example.com/hook"}
        unreachable_config = {"url": "https://127.0.0.1:9/never"}

See docs/plugins.md.
"""

from heso.testing._contract import ChannelContract
from heso.testing._database import migrated_app
from heso.testing._factories import (
    TestTeam,
    create_decision,
    decision_body,
    heso_test_app,
    heso_test_client,
    heso_test_team,
    make_team,
)
from heso.testing._notifications import make_notification
from heso.testing._policy_contract import PolicySourceContract

__all__ = ["ChannelContract", "PolicySourceContract", "TestTeam", "create_decision", "decision_body",
           "heso_test_app", "heso_test_client", "heso_test_team", "make_notification", "make_team", "migrated_app"]
