"""What a fresh install of the SDK (heso-client) weighs against the server's (heso), offline.

    .venv/bin/python benchmarks/client_size.py

A distribution's install is its own wheel plus the closure of its ``Requires-Dist`` (extras
followed where a requirement names them, markers evaluated here), read from what this
environment has installed: no network, no new venv. Each dependency counts the files its RECORD
lists; heso and heso-client, installed editable here, count their wheels' files, built with
``pip wheel --no-deps --no-build-isolation``. Bytecode caches (``__pycache__``) are left out
everywhere, so the figures compare like with like. Prints one ``name=value`` line per figure;
``client_vs_server_mib_ratio`` is the one to compare between runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def closure(name: str) -> dict[str, importlib.metadata.Distribution]:
    """``name``'s installed distribution and every one it requires, by canonical name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(name)]
    while todo:
        requirement = todo.pop()
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        found[key] = distribution = importlib.metadata.distribution(requirement.name)
        for text in distribution.requires or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra})
                                            for extra in requirement.extras or {""}):
                todo.append(needed)
    return found


def record_files(distribution: importlib.metadata.Distribution) -> list[tuple[Path, Path]]:
    """(path relative to site-packages, where it is) for each file its RECORD lists, caches aside."""
    return [(Path(file), Path(str(distribution.locate_file(file)))) for file in distribution.files or []
            if "__pycache__" not in Path(file).parts]


def build_wheel(project: Path, folder: Path) -> Path:
    """``project``'s wheel in ``folder``, offline (this environment's setuptools builds it)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(folder), str(project)], check=True, capture_output=True)
    name = canonicalize_name(project.joinpath("setup.cfg").read_text().split("name = ", 1)[1].split()[0])
    return next(wheel for wheel in folder.glob("*.whl") if canonicalize_name(wheel.name.split("-")[0]) == name)


def install_size(name: str, wheels: dict[str, Path]) -> tuple[int, int]:
    """(distributions, bytes) of a fresh install of ``name``; ``wheels`` stand in for editable ones."""
    total = 0
    members = closure(name)
    for key, distribution in members.items():
        if key in wheels:
            with zipfile.ZipFile(wheels[key]) as wheel:
                total += sum(info.file_size for info in wheel.infolist() if "__pycache__" not in info.filename)
        else:
            total += sum(path.stat().st_size for _, path in record_files(distribution) if path.is_file())
    return len(members), total


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        wheels = {"heso-client": build_wheel(ROOT / "client", Path(folder)),
                  "heso": build_wheel(ROOT, Path(folder))}
        client_packages, client_bytes = install_size("heso-client", wheels)
        server_packages, server_bytes = install_size("heso", wheels)
    return {"client_packages": client_packages, "client_mib": round(client_bytes / MIB, 2),
            "server_packages": server_packages, "server_mib": round(server_bytes / MIB, 2),
            "client_vs_server_mib_ratio": round(client_bytes / server_bytes, 3)}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    for key, value in measure().items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
