"""Real processes for the MCP tests: ``heso mcp serve|proxy`` subprocesses, the test upstream, and the
official ``mcp`` client (``ClientSession``) driven from synchronous tests through an anyio portal.

Starting ``heso`` and an upstream costs seconds on a loaded machine, so a module shares one
process: it talks to a *front*, a module-wide HTTP server that hands each request to the
current test's app (fresh database per test) and swaps the placeholder key the process was
started with for the current team's agent key. A test that sends a real key (an approver's, a
revoked one) goes through untouched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.helpers import serve_wsgi, wait_until

UPSTREAM = Path(__file__).with_name("upstream.py")
HESO = str(Path(sys.executable).with_name("heso"))
PLACEHOLDER = "heso_placeholder_front"


class Front:
    """A WSGI app forwarding to ``self.app`` with ``PLACEHOLDER`` replaced by ``self.key``.

    It notes every request's method and path in ``self.seen``; while ``self.gate`` is set to an
    unset event, requests to ``self.gated`` wait for it (up to 30 s) before they go through."""

    def __init__(self) -> None:
        self.app: Any = None
        self.key = ""
        self.seen: list[str] = []
        self.gate: threading.Event | None = None
        self.gated = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_AUTHORIZATION") == f"Bearer {PLACEHOLDER}":
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        self.seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        if self.gate is not None and environ["PATH_INFO"] == self.gated:
            self.gate.wait(30)
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def front() -> Iterator[tuple[Front, str]]:
    handler = Front()
    with serve_wsgi(handler) as url:
        yield handler, url


@pytest.fixture
def heso_url(front, app, team) -> str:
    """The front's URL, serving this test's app as this test's team."""
    handler, url = front
    handler.app, handler.key = app, team.keys["agent"]
    handler.seen, handler.gate = [], None
    return url


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upstream_config(path: Path, **servers: dict[str, Any]) -> Path:
    import json

    path.write_text(json.dumps({"mcpServers": servers or {"up": stdio_upstream()}}))
    return path


def stdio_upstream() -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(UPSTREAM)]}


def heso_command(*args: str, url: str, key: str | None = PLACEHOLDER) -> StdioServerParameters:
    env = {"HESO_URL": url, "PYTHONUNBUFFERED": "1"}
    if key is not None:
        env["HESO_AGENT_KEY"] = key
    return StdioServerParameters(command=HESO, args=list(args), env=env)


class Session:
    """A ``ClientSession`` (and its stdio process) used from synchronous code."""

    def __init__(self, portal: BlockingPortal, session: ClientSession) -> None:
        self.portal, self.session = portal, session
        self.progress: list[tuple[float, float | None, str | None]] = []

    def call(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.portal.call(lambda: self.session.call_tool(name, arguments or {}, **kwargs))

    def start(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """The call running in the background (a ``Future``), progress recorded in ``self.progress``."""
        async def progress(value: float, total: float | None, message: str | None) -> None:
            self.progress.append((value, total, message))

        return self.portal.start_task_soon(lambda: self.session.call_tool(
            name, arguments or {}, progress_callback=progress, **kwargs))

    def list_tools(self) -> Any:
        return self.portal.call(self.session.list_tools)


@contextlib.contextmanager
def open_session(portal: BlockingPortal, params: StdioServerParameters, **session_args: Any) -> Iterator[Session]:
    @contextlib.asynccontextmanager
    async def opened() -> Any:
        with open(os.devnull, "w") as quiet:
            async with stdio_client(params, errlog=quiet if not os.environ.get("HESO_MCP_DEBUG") else sys.stderr) \
                    as (read, write), ClientSession(read, write, **session_args) as session:
                await session.initialize()
                yield session

    with portal.wrap_async_context_manager(opened()) as session:
        yield Session(portal, session)


def pending_decision(client, team, timeout: float = 30) -> dict[str, Any]:
    """The team's one pending decision, once there is one."""
    def find() -> dict[str, Any] | None:
        items = client.get("/v1/decisions?status=pending", headers=team.headers("agent")).json
        found = items["data"]
        return found[0] if found else None

    return wait_until(find, timeout, message="a pending decision")
