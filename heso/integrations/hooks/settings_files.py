"""Merge HESO's command hook into a coding agent's settings, and take it out again.

Claude Code: ``.claude/settings.json`` in the project, or ``~/.claude/settings.json``
(``$CLAUDE_CONFIG_DIR``), a ``PreToolUse`` hook on every tool. Codex: ``.codex/hooks.json`` in
the project, or ``~/.codex/hooks.json`` (``$CODEX_HOME``), a ``PermissionRequest`` hook (the
shape Codex adopted), and ``[features] codex_hooks = true`` in the ``config.toml`` beside it.

Only HESO's own entry is touched (found by its command, ``… hook <agent> …``): other hooks,
other events and every other setting stay as they were; running install twice changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import click

EVENT = {"claude-code": "PreToolUse", "codex": "PermissionRequest"}
KEY_FILE = "heso-agent.key"


def settings_dir(agent: str, root: Path | None) -> Path:
    if agent == "claude-code":
        return root / ".claude" if root else Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    return root / ".codex" if root else Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def settings_path(agent: str, root: Path | None) -> Path:
    return settings_dir(agent, root) / ("settings.json" if agent == "claude-code" else "hooks.json")


def _is_ours(hook: Any, agent: str) -> bool:
    command = hook.get("command") if isinstance(hook, dict) else None
    return isinstance(command, str) and "heso" in command and f" hook {agent}" in command


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text() or "{}")
    except ValueError as exc:
        raise click.ClickException(f"{path}: not valid JSON ({exc}); fix it first; HESO left it unchanged.") from None
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict):
        raise click.ClickException(f"{path}: expected a JSON object with an object 'hooks'; left unchanged.")
    return data


def _write(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` atomically (a rename), keeping its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = path.stat().st_mode & 0o777 if path.exists() else mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        if keep is not None:
            os.chmod(temporary, keep)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _without_ours(data: dict[str, Any], agent: str) -> dict[str, Any]:
    """``data`` with HESO's hook for ``agent`` removed, and groups or events it leaves empty."""
    hooks = dict(data.get("hooks") or {})
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                remaining = [hook for hook in group["hooks"] if not _is_ours(hook, agent)]
                if not remaining and group["hooks"]:
                    continue  # the group held only HESO's hook
                group = {**group, "hooks": remaining}
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    result = dict(data)
    if hooks:
        result["hooks"] = hooks
    else:
        result.pop("hooks", None)
    return result


def install(agent: str, root: Path | None, command: str, timeout: int) -> list[Path]:
    """Put HESO's hook in the agent's settings (replacing an earlier one); the files written."""
    path = settings_path(agent, root)
    data = _without_ours(_read(path), agent)
    group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": timeout}]}
    if agent == "claude-code":
        group = {"matcher": "*", **group}
    hooks = dict(data.get("hooks") or {})
    hooks[EVENT[agent]] = [*hooks.get(EVENT[agent], []), group]
    data["hooks"] = hooks
    changed = []
    text = json.dumps(data, indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        _write(path, text)
        changed.append(path)
    if agent == "codex" and _enable_codex_hooks(settings_dir(agent, root) / "config.toml"):
        changed.append(settings_dir(agent, root) / "config.toml")
    return changed


def uninstall(agent: str, root: Path | None) -> list[Path]:
    path = settings_path(agent, root)
    changed = []
    if path.exists():
        before = _read(path)
        after = _without_ours(before, agent)
        if after != before:
            _write(path, json.dumps(after, indent=2) + "\n")
            changed.append(path)
    key = settings_dir(agent, root) / KEY_FILE
    if key.exists():
        key.unlink()
        changed.append(key)
    return changed


def write_key(agent: str, root: Path | None, key: str) -> Path:
    """Store the agent key where only this user can read it (mode 600), kept out of git."""
    directory = settings_dir(agent, root)
    path = directory / KEY_FILE
    _write(path, key.strip() + "\n", mode=0o600)
    os.chmod(path, 0o600)
    if root is not None:  # a project's settings folder may be committed: keep the key out
        ignore = directory / ".gitignore"
        lines = ignore.read_text().splitlines() if ignore.exists() else []
        if KEY_FILE not in lines:
            _write(ignore, "\n".join([*lines, KEY_FILE]) + "\n")
    return path


def _enable_codex_hooks(config: Path) -> bool:
    """Set ``[features] codex_hooks = true`` in Codex's config.toml, editing only that line."""
    text = config.read_text() if config.exists() else ""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(f"{config}: not TOML ({exc}); fix it first; HESO left it unchanged.") from None
    features = parsed.get("features")
    if isinstance(features, dict) and features.get("codex_hooks") is True:
        return False
    lines = text.splitlines()
    header = next((index for index, line in enumerate(lines) if re.match(r"^\s*\[features\]\s*(#.*)?$", line)), None)
    if header is None:
        lines += ([""] if lines and lines[-1].strip() else []) + ["[features]", "codex_hooks = true"]
    else:
        lines = [line for index, line in enumerate(lines)
                 if not (index > header and re.match(r"^\s*codex_hooks\s*=", line))]
        lines.insert(header + 1, "codex_hooks = true")
    new = "\n".join(lines) + "\n"
    tomllib.loads(new)  # never write a file Codex cannot read
    _write(config, new)
    return True
