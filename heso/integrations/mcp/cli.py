"""``heso mcp serve`` and ``heso mcp proxy``: MCP over stdio (the default) or Streamable HTTP (``--http``).

Neither builds the Flask app nor opens a database: both talk to a HESO server over its REST API
(``--url``/``HESO_URL``) with an agent key (``--key``/``HESO_AGENT_KEY``).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

HOLD_HELP = "Longest a call is held waiting for a human before answering (seconds)."


def _host_port(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("HOST:PORT, e.g. 127.0.0.1:8765", param_hint="--http")
    return host.strip("[]"), int(port)


def _key(key: str | None, http: bool) -> str | None:
    if not key and not http:
        raise click.UsageError("An agent key is needed: --key or HESO_AGENT_KEY (heso keys create --scope agent).")
    return key


def _run(server: Any, http: tuple[str, int] | None, around: Callable[[Callable[[], Awaitable[None]]],
                                                                      Awaitable[None]] | None = None) -> None:
    """Serve ``server`` (a low-level ``mcp`` Server) until stdin closes or Ctrl-C."""
    import anyio

    async def serve() -> None:
        if http is None:
            from mcp.server.stdio import stdio_server

            from heso.integrations.mcp.stdio import standard_streams

            async with standard_streams() as (stdin, stdout), \
                    stdio_server(stdin, stdout) as (read, write):  # type: ignore[arg-type]  # duck-typed files
                await server.run(read, write, server.create_initialization_options())
            return
        import uvicorn

        app = server.streamable_http_app(host=http[0])
        config = uvicorn.Config(app, host=http[0], port=http[1], log_level="warning", lifespan="on")
        click.echo(f"MCP over Streamable HTTP at http://{http[0]}:{http[1]}/mcp", err=True)
        await uvicorn.Server(config).serve()

    async def main() -> None:
        if around is None:
            await serve()
        else:
            await around(serve)

    try:
        anyio.run(main)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C
        pass


@click.group("mcp", short_help="MCP: HESO's tools (serve) and a policy gateway to other servers (proxy).")
def mcp_group() -> None:
    """MCP server and gateway; both are clients of a HESO server (docs/mcp.md)."""


_url = click.option("--url", envvar="HESO_URL", default="http://127.0.0.1:5000", show_default=True,
                    help="The HESO server (HESO_URL).")
_key_option = click.option("--key", envvar="HESO_AGENT_KEY", help="An agent key (HESO_AGENT_KEY).")
_http = click.option("--http", "http", metavar="HOST:PORT", help="Serve Streamable HTTP at /mcp instead of stdio.")
_poll = click.option("--poll-seconds", default=5, show_default=True, type=click.IntRange(1, 60),
                     help="Each long-poll's wait while a call is held; a progress notification follows each.")


@mcp_group.command("serve", short_help="Serve HESO's tools over MCP (request_approval, approve_tool_use, ...).")
@_url
@_key_option
@_http
@click.option("--hold-seconds", default=50.0, show_default=True, type=click.FloatRange(1, 600), help=HOLD_HELP)
@_poll
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=".",
              help="approve_tool_use's project: relative paths are in it [default: the working directory, "
                   "which Claude Code sets to its own].")
def serve_command(url: str, key: str | None, http: str | None, hold_seconds: float, poll_seconds: int,
                  project: Path) -> None:
    """request_approval, get_decision, authorize and approve_tool_use (for --permission-prompt-tool)."""
    from heso.integrations.mcp.server import HesoTools, build_server

    address = _host_port(http)
    tools = HesoTools(url, _key(key, address is not None), hold_seconds=hold_seconds, poll_seconds=poll_seconds,
                      project=str(project.resolve()))
    _run(build_server(tools), address)


@mcp_group.command("proxy", short_help="A gateway to other MCP servers: every tool call through HESO's policy.")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='An {"mcpServers": {...}} file: {"command", "args", "env"} or {"url"} per server.')
@_url
@_key_option
@_http
@click.option("--hold-seconds", default=50.0, show_default=True, type=click.FloatRange(0, 600), help=HOLD_HELP)
@_poll
def proxy_command(config_path: Path, url: str, key: str | None, http: str | None, hold_seconds: float,
                  poll_seconds: int) -> None:
    """List the upstreams' tools as <server>__<tool>; allow, deny or hold each call as policy says."""
    from heso.integrations.mcp.heso_api import Heso
    from heso.integrations.mcp.proxy import ConfigError, Gateway, build_server, load_config, running

    try:
        servers = load_config(config_path.read_text(encoding="utf-8"))
    except (ConfigError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    address = _host_port(http)
    gateway = Gateway(Heso(url, _key(key, False), poll_seconds=poll_seconds), hold_seconds=hold_seconds)

    async def around(serve: Callable[[], Awaitable[None]]) -> None:
        try:
            async with running(gateway, servers):
                await serve()
        except OSError as exc:
            click.echo(f"heso mcp proxy: an upstream could not start: {exc}", err=True)
            sys.exit(1)

    _run(build_server(gateway), address, around)
