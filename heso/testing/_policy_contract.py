from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar

import marshmallow as ma
import pytest

from heso.policy.api import MAX_BUNDLE_BYTES, Fetched, PolicySource, SourceError, TeamRef
from heso.policy.registry import GROUP, interface_problems

TEAM = TeamRef(id="team_01JTESTTESTTESTTESTTESTTES", name="Contract test team")


class PolicySourceContract:
    """What every policy source must honour. Subclass it in your plugin's tests and set:

    - ``source_class``: your :class:`~heso.policy.api.PolicySource` subclass;
    - ``valid_config``: a configuration that loads a bundle; or override the
      :meth:`source_config` fixture to build one per test (a temporary file, a server your
      test starts);
    - ``unreachable_config``: a valid configuration whose origin does not answer (``load``
      must then raise :class:`~heso.policy.api.SourceError` with a message, nothing else).
    """

    source_class: ClassVar[type[PolicySource]]
    valid_config: ClassVar[dict[str, Any]] = {}
    unreachable_config: ClassVar[dict[str, Any] | None] = None

    @pytest.fixture
    def source_config(self) -> dict[str, Any]:
        """A configuration from which ``load`` fetches a bundle; default: ``valid_config``."""
        return self.valid_config

    def _source(self, config: dict[str, Any]) -> PolicySource:
        return self.source_class(self.source_class.config_schema().load(config))

    def test_implements_the_interface(self) -> None:
        assert interface_problems(self.source_class) == []

    def test_is_installed_under_its_name(self) -> None:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        assert self.source_class.name in found, f"no entry point {self.source_class.name!r} in group {GROUP!r}"
        assert found[self.source_class.name].load() is self.source_class

    def test_rejects_unknown_config_fields(self, source_config: dict[str, Any]) -> None:
        with pytest.raises(ma.ValidationError):
            self.source_class.config_schema().load({**source_config, "no_such_setting_xyz": 1})

    def test_secret_fields_are_config_fields(self) -> None:
        assert set(self.source_class.secret_fields) <= set(self.source_class.config_schema().fields)

    def test_loads_a_bundle_and_then_says_unchanged(self, source_config: dict[str, Any]) -> None:
        first = self._source(source_config).load(TEAM, None)
        assert isinstance(first, Fetched)
        assert isinstance(first.text, bytes) and 0 < len(first.text) <= MAX_BUNDLE_BYTES
        assert isinstance(first.token, str) and first.token and first.origin
        assert first.fmt in (None, "yaml", "json")
        again = self._source(source_config).load(TEAM, first.token)  # a fresh instance: no state between loads
        assert again is None or (isinstance(again, Fetched) and again.text == first.text)

    def test_an_unreachable_origin_is_a_source_error_with_a_message(self) -> None:
        if self.unreachable_config is None:
            pytest.skip("set unreachable_config to check failure reporting")
        with pytest.raises(SourceError) as failure:
            self._source(self.unreachable_config).load(TEAM, None)
        assert str(failure.value)
