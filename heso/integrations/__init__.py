"""Where agents already stop for approval: coding-agent hooks (``hooks``), MCP (``mcp``)."""
