"""heso.channels.api.setting: a plugin's own operator settings (HESO_<NAME>)."""

import pytest
from flask import Flask

from heso.channels.api import setting


@pytest.fixture
def context():
    app = Flask(__name__)
    app.config.update(MYCHAT_FROM_CONFIG="http://127.0.0.1:9", MYCHAT_PORT_TEXT="8080")
    with app.app_context():
        yield app


def test_the_app_config_comes_first_then_the_environment_then_the_default(context, monkeypatch):
    monkeypatch.setenv("HESO_MYCHAT_FROM_CONFIG", "https://ignored.example")
    monkeypatch.setenv("HESO_MYCHAT_API_URL", "https://from-env.example")
    assert setting("MYCHAT_FROM_CONFIG", "https://default.example") == "http://127.0.0.1:9"
    assert setting("MYCHAT_API_URL", "https://default.example") == "https://from-env.example"
    assert setting("MYCHAT_UNSET", "https://default.example") == "https://default.example"


def test_the_value_takes_the_type_of_the_default(context, monkeypatch):
    monkeypatch.setenv("HESO_MYCHAT_TIMEOUT", "2.5")
    monkeypatch.setenv("HESO_MYCHAT_ON", "yes")
    monkeypatch.setenv("HESO_MYCHAT_OFF", "0")
    assert setting("MYCHAT_TIMEOUT", 10.0) == 2.5
    assert setting("MYCHAT_PORT_TEXT", 1) == 8080
    assert setting("MYCHAT_ON", False) is True
    assert setting("MYCHAT_OFF", True) is False


def test_a_value_that_does_not_convert_names_the_variable(context, monkeypatch):
    monkeypatch.setenv("HESO_MYCHAT_RETRIES", "three")
    with pytest.raises(ValueError, match="HESO_MYCHAT_RETRIES must be int, got 'three'"):
        setting("MYCHAT_RETRIES", 3)
