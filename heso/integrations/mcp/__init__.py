"""MCP: ``heso mcp serve`` (HESO's own tools) and ``heso mcp proxy`` (a gateway in front of other servers).

Both are thin clients of a HESO server (``HESO_URL``, an agent key in ``HESO_AGENT_KEY``) built on
the official ``mcp`` Python SDK; neither touches a database. See docs/mcp.md.
"""
