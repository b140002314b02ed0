"""The docs name every error code and every setting, so they cannot silently fall behind."""

from pathlib import Path

import pytest

from heso import errors
from heso.config import DEFAULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("code", sorted({cls.code for cls in errors.HesoError.__subclasses__()}
                                        | set(errors.HTTP_STATUS_CODES.values()) | {"INTERNAL_ERROR"}))
def test_every_error_code_is_documented(code):
    assert f"`{code}`" in (DOCS / "api.md").read_text()


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_setting_is_documented(name):
    assert f"`HESO_{name}`" in (DOCS / "operations.md").read_text()
