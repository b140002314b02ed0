"""The plugin author's path, end to end: build the example channel as a real distribution,
and run its own test suite (which uses heso.testing's contract) against it.

It is installed into a throwaway directory, not into the project's environment, so the
example channel never shows up in a real HESO.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "heso-channel-example"


@pytest.mark.slow
def test_example_channel_passes_the_contract_suite(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "9 passed" in run.stdout  # the 8 contract checks (recover among them) and its own test
