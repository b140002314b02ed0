"""heso-client is a distribution of its own (issue 17): an agent installs the SDK without the server.

The wheel is built from client/ offline (this environment's setuptools, no build isolation) and
installed into a fresh venv with nothing else but the closure of its Requires-Dist, taken from
the distributions installed here (linked file by file from their RECORDs: no index, no network).
There, with ``python -I``, ``import heso.client`` must work, sign a receipt the server's hash
agrees with, and load no Flask, SQLAlchemy, Werkzeug or server module.
"""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from heso.receipts import format as fmt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from client_size import build_wheel, closure, record_files  # noqa: E402 - benchmarks/ is not a package

#: What the SDK may need, and what it must never bring (the server's stack).
SDK_REQUIRES = {"requests", "pynacl", "blake3", "rfc8785"}
SERVER_ONLY = {"heso", "flask", "flask-smorest", "werkzeug", "sqlalchemy", "flask-sqlalchemy", "marshmallow",
               "flask-migrate", "alembic", "rq", "redis", "psycopg", "gunicorn", "flask-limiter", "mcp"}

CHECK = """
import importlib.metadata, json, sys
import heso, heso.client
from heso.client import HesoClient, ReceiptOutbox, ReceiptSigner, require_approval
from nacl.signing import SigningKey
receipt = ReceiptSigner(SigningKey.generate(), team_id="team_1", agent_id="agt_1").sign(
    {"tool": "deploy", "args": {"env": "prod"}}, policy_version="v3")
blocked = ("flask", "flask_smorest", "werkzeug", "sqlalchemy", "flask_sqlalchemy", "marshmallow", "rq", "redis")
print(json.dumps({
    "namespace": heso.__file__ is None, "sdk": heso.client.__file__, "action_hash": receipt["action_hash"],
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in blocked
                     or m.startswith("heso.") and not m.startswith("heso.client")),
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Built from a copy of client/: setuptools writes build/ beside the sources, and xdist workers
    (or a developer's own build) must not share it."""
    folder = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT / "client", folder / "client", ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                                      "__pycache__"))
    return build_wheel(folder / "client", folder)


def _metadata(wheel: Path) -> tuple[list[str], dict[str, list[str]]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    return names, {"name": [metadata["Name"]], "requires": metadata.get_all("Requires-Dist") or []}


def test_the_wheel_is_the_sdk_alone_and_requires_no_server_package(wheel):
    names, metadata = _metadata(wheel)
    assert metadata["name"] == ["heso-client"]
    requires = [Requirement(text) for text in metadata["requires"]]
    assert {r.name.lower() for r in requires if r.marker is None} == SDK_REQUIRES
    # A framework adapter's packages come only with its extra (`heso-client[langgraph]`).
    assert all(" extra == " in f" {r.marker}" for r in requires if r.marker is not None)
    assert not {Requirement(text).name.lower() for text in metadata["requires"] if Requirement(text).extras}
    package = [name for name in names if ".dist-info/" not in name]
    assert "heso/client/__init__.py" in package and "heso/client/py.typed" in package
    assert "heso/client/receipt_format.py" in package and "heso/client/canonical.py" in package
    assert all(name.startswith("heso/client/") for name in package), "heso/ stays a namespace: no heso/__init__.py"


def test_a_fresh_venv_with_only_the_wheel_and_its_dependencies_imports_the_sdk(wheel, tmp_path):
    needed = {key: dist for key, dist in closure("heso-client").items() if key != "heso-client"}
    assert not needed.keys() & SERVER_ONLY, "the SDK's dependency closure reaches the server's stack"
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    site = Path(subprocess.run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    for distribution in needed.values():
        for relative, source in record_files(distribution):
            if ".." not in relative.parts and source.is_file():  # scripts in bin/ are not needed
                (site / relative).parent.mkdir(parents=True, exist_ok=True)
                (site / relative).symlink_to(source)

    result = subprocess.run([python, "-I", "-c", CHECK], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["namespace"] and report["sdk"].startswith(str(site))
    assert report["loaded"] == []
    assert {canonicalize_name(name) for name in report["distributions"]} == {"heso-client", *needed}
    # the SDK and the server hash an action to the same bytes (one receipt format, heso.client's)
    assert report["action_hash"] == fmt.action_hash({"tool": "deploy", "args": {"env": "prod"}})


def test_the_server_depends_on_the_client_and_does_not_ship_it():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = [Requirement(line) for line in config["options"]["install_requires"].split("\n") if line.strip()]
    assert "heso-client" in {requirement.name for requirement in requires}
    assert {"heso.client", "heso.client.*"} <= {name.strip() for name in
                                                config["options.packages.find"]["exclude"].split(",")}
    client = configparser.ConfigParser()
    client.read(ROOT / "client" / "setup.cfg")
    assert "flask" not in client["options"]["install_requires"].lower()
