from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar

import marshmallow as ma
import pytest
from flask import Blueprint, Flask

from heso.channels.base import ChannelPlugin, DeliveryResult
from heso.channels.registry import GROUP, interface_problems
from heso.testing._notifications import make_notification


class ChannelContract:
    """What every channel must honour. Subclass it in your plugin's tests and set:

    - ``plugin_class``: your :class:`~heso.channels.base.ChannelPlugin` subclass;
    - ``valid_config``: a configuration your ``config_schema`` accepts;
    - ``unreachable_config``: a valid configuration whose destination does not answer
      (``send`` must then report a failure, not raise).

    A channel whose ``send``, ``recover`` or config schema needs HESO running (the database,
    Redis, ``current_app.config``) overrides the :meth:`heso_app` fixture to return a HESO
    Flask app; the checks then run inside its app context.
    """

    plugin_class: ClassVar[type[ChannelPlugin]]
    valid_config: ClassVar[dict[str, Any]] = {}
    unreachable_config: ClassVar[dict[str, Any] | None] = None

    @pytest.fixture
    def plugin(self) -> ChannelPlugin:
        return self.plugin_class()

    @pytest.fixture
    def heso_app(self) -> Flask | None:
        """The HESO app to call ``send``/``recover`` in; None: no app context (override it)."""
        return None

    @contextmanager
    def _context(self, app: Flask | None) -> Iterator[None]:
        with app.app_context() if app is not None else nullcontext():
            yield

    def test_implements_the_interface(self) -> None:
        assert interface_problems(self.plugin_class) == []

    def test_is_installed_under_its_name(self) -> None:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        assert self.plugin_class.name in found, f"no entry point {self.plugin_class.name!r} in group {GROUP!r}"
        assert found[self.plugin_class.name].load() is self.plugin_class

    def test_accepts_its_valid_config(self, heso_app: Flask | None) -> None:
        with self._context(heso_app):
            self.plugin_class.config_schema().load(self.valid_config)

    def test_rejects_unknown_config_fields(self, heso_app: Flask | None) -> None:
        with self._context(heso_app), pytest.raises(ma.ValidationError):
            self.plugin_class.config_schema().load({**self.valid_config, "no_such_setting_xyz": 1})

    def test_secret_fields_are_config_fields(self) -> None:
        declared = set(self.plugin_class.config_schema().fields)
        assert set(self.plugin_class.secret_fields) <= declared

    def test_blueprint_is_none_or_a_blueprint(self, plugin: ChannelPlugin) -> None:
        blueprint = plugin.blueprint()
        assert blueprint is None or isinstance(blueprint, Blueprint)

    def test_unreachable_destination_is_a_failed_result_not_an_exception(self, plugin: ChannelPlugin,
                                                                         heso_app: Flask | None) -> None:
        if self.unreachable_config is None:
            pytest.skip("set unreachable_config to check failure reporting")
        with self._context(heso_app):
            config = self.plugin_class.config_schema().load(self.unreachable_config)
            result = plugin.send(make_notification(config=config))
        assert isinstance(result, DeliveryResult)
        assert result.ok is False and result.error

    def test_recover_with_nothing_to_recover_is_zero(self, plugin: ChannelPlugin, heso_app: Flask | None) -> None:
        with self._context(heso_app):
            assert plugin.recover(datetime.now(UTC)) == 0
