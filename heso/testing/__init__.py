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
from heso.testing._notifications import make_notification
from heso.testing._policy_contract import PolicySourceContract

__all__ = ["ChannelContract", "PolicySourceContract", "make_notification", "migrated_app"]
