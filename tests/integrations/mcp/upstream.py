"""A real MCP server for the gateway's tests and benchmark, written with the same SDK.

``python upstream.py`` serves stdio; ``python upstream.py --http PORT`` Streamable HTTP.
"""

from __future__ import annotations

import os
import sys

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("upstream")
READ_ONLY = ToolAnnotations(read_only_hint=True)


@server.tool()
def echo(text: str) -> str:
    """Say it back."""
    return text


@server.tool(annotations=READ_ONLY)
def add(a: int, b: int) -> int:
    """Add two numbers (read-only: the gateway allows it when no rule says otherwise)."""
    return a + b


@server.tool()
def write_file(path: str, content: str) -> str:
    """Pretend to write a file (held for a human by the tests' policy)."""
    return f"wrote {len(content)} bytes to {path}"


@server.tool()
def read_secret(name: str) -> str:
    """Denied by the tests' policy: never reached."""
    return f"the secret {name}"


@server.tool(annotations=READ_ONLY)
def pid() -> int:
    """This process's id (so a test can kill it)."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
