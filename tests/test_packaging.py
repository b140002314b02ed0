"""The server's wheel ships every file its pages need: a non-editable install (a container, a
deployment from a wheel) would otherwise serve the console without templates, scripts or styles."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Folders whose every file the running app reads (templates, static files, bundled policy).
DATA_FOLDERS = ["heso/console/templates", "heso/console/static", "heso/auth/templates", "heso/auth/static",
                "heso/channels/templates", "heso/integrations/hooks"]


def _tracked(folder: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name for name in listed.stdout.split() if not name.endswith(".py")}


def test_the_server_wheel_ships_the_console_and_page_files(tmp_path):
    source = tmp_path / "server"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "heso", source / "heso", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("heso-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = set().union(*(_tracked(folder) for folder in DATA_FOLDERS))
    assert expected and "heso/console/static/htmx-2.0.11.min.js" in expected
    assert not expected - shipped, sorted(expected - shipped)
