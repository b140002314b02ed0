"""Running the real Claude Code CLI (npm, pinned in the Makefile) headless in tests.

Shared by the hook tests (tests/integrations/hooks/test_claude_code.py) and the
``--permission-prompt-tool`` tests (tests/integrations/mcp/test_claude_code.py): a project folder
with its own HOME, the CLI started against the fake Anthropic API (hooks/fake_anthropic.py), its
JSON result, and the held call's decision seen over REST.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import kill_process_group, serve_wsgi, wait_until
from tests.integrations.hooks.fake_anthropic import FakeModel

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "claude"


@contextlib.contextmanager
def fake_model() -> Iterator[FakeModel]:
    """The fake Messages API on loopback; its URL in ``.url``."""
    fake = FakeModel()
    with serve_wsgi(fake.app) as url:
        fake.url = url
        yield fake


def make_project(tmp_path: Path) -> Path:
    """``tmp_path`` with ``proj/build`` (the working directory) and ``home`` (the CLI's HOME)."""
    if not CLAUDE.exists():
        pytest.fail(f"{CLAUDE} is missing: run `make install` (it installs the pinned Claude Code CLI)")
    (tmp_path / "proj" / "build").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    return tmp_path


def claude(project: Path, model: FakeModel, *args: str) -> subprocess.Popen:
    """``claude -p "Run the command." --output-format json *args`` in ``project/proj``, in its own group."""
    env = {"PATH": os.environ["PATH"], "HOME": str(project / "home"), "LANG": "C.UTF-8",
           "ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "dummy",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    return subprocess.Popen([str(CLAUDE), "-p", "Run the command.", "--output-format", "json", *args],
                            cwd=project / "proj", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 120) -> dict[str, Any]:
    """The CLI's JSON result once it exits (0, no error); the group is killed if it overruns."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_group(process)
        raise
    assert process.returncode == 0, (out, err)
    result = json.loads(out)
    assert result["is_error"] is False, result
    return result


def held_decision(heso_url: str, headers: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """The team's pending decision over REST, once the CLI's held call has created it."""
    def pending() -> dict[str, Any] | None:
        page = requests.get(f"{heso_url}/v1/decisions?status=pending", headers=headers, timeout=10).json()["data"]
        return page[0] if page else None

    return wait_until(pending, timeout, message="the held command's decision")


def approve_once_held(process: subprocess.Popen, project: Path, heso_url: str, agent: dict[str, str],
                      approver: dict[str, str], shown: str) -> None:
    """The held call's decision shows ``shown`` while the CLI waits (made.txt not yet made); approve it
    over REST with ``approver``'s headers and let the CLI finish. The CLI is killed if anything fails."""
    try:
        decision = held_decision(heso_url, agent)
        assert shown in decision["action"]
        assert process.poll() is None and not (project / "proj" / "made.txt").exists()  # the CLI waits
        answer = requests.post(f"{heso_url}/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                               headers=approver, timeout=10)
        assert answer.status_code == 200, answer.text
        finish(process)
    finally:
        if process.poll() is None:
            kill_process_group(process)
