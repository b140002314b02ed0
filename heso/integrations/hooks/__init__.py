"""Claude Code and Codex hooks: a tool call in, a permission answer out (docs/coding-agents.md)."""
