"""A coding agent's tool call (Claude Code, Codex) as a HESO tool call: tool, capabilities, context.

:func:`to_request` is the one mapping, shared by the hook endpoint and the MCP server's
``approve_tool_use``. It never decides anything: it only describes the call in the policy
vocabulary (docs/coding-agents.md has the table), so the team's bundle decides.

Paths become *targets*: a path inside the project (the hook's ``cwd``) as ``./relative/path``,
any other as written (absolute, or ``~/...``), so a bundle can tell "in the project" (``./*``)
from "anywhere else" without knowing where the project is.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from heso.canonical import blake3_hex, canonical_json

#: Tools that only read.
READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
#: Tools that write files, and where their input names the file.
WRITE_TOOLS = {"Edit": "file_path", "MultiEdit": "file_path", "Write": "file_path", "NotebookEdit": "notebook_path"}
MAX_TARGETS = 64
MAX_TARGET = 500
MAX_SUMMARY = 8000

#: Package managers and the sub-commands that install something.
INSTALLERS: dict[str, frozenset[str]] = {
    "npm": frozenset({"install", "i", "ci", "add", "update", "exec"}),
    "pnpm": frozenset({"install", "i", "add", "update", "dlx"}),
    "yarn": frozenset({"add", "install", "dlx"}),
    "bun": frozenset({"add", "install", "i", "x"}),
    "pip": frozenset({"install", "download"}),
    "uv": frozenset({"add", "pip", "sync", "tool"}),
    "poetry": frozenset({"add", "install"}),
    "pipx": frozenset({"install", "run"}),
    "apt": frozenset({"install"}), "apt-get": frozenset({"install"}),
    "brew": frozenset({"install"}), "gem": frozenset({"install"}),
    "cargo": frozenset({"install", "add"}), "go": frozenset({"install", "get"}),
}
#: Commands that always reach the network (besides installs).
NETWORK_COMMANDS = frozenset({"curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "telnet", "ftp", "http",
                              "https", "xh"})
NO_INSTALL_NEEDED = frozenset({"npx", "bunx"})  # run a package, fetching it first
GIT_NETWORK = frozenset({"clone", "fetch", "pull", "push", "ls-remote"})
PRIVILEGE = frozenset({"sudo", "doas", "su", "pkexec"})
WRAPPERS = frozenset({"env", "time", "nohup", "nice", "command", "exec", "timeout", "xargs", "stdbuf"})
#: Commands whose every operand is a file they change.
WRITERS = frozenset({"rm", "rmdir", "touch", "mkdir", "cp", "mv", "ln", "chmod", "chown", "tee", "truncate", "dd",
                     "install", "unlink", "shred"})
OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "|&", "(", ")", "\n"})
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def input_digest(tool_input: Any) -> str:
    """BLAKE3 of the tool input as RFC 8785 canonical JSON: what an approval is bound to."""
    return blake3_hex(canonical_json(tool_input))


def to_request(tool_name: str, tool_input: dict[str, Any], cwd: str | None = None) -> dict[str, Any]:
    """The ``POST /v1/tools/authorize`` body (without ``call_id``) describing one tool call."""
    capabilities: list[str]
    context: dict[str, Any] = {}
    targets: list[str] = []
    if tool_name == "Bash":
        command = str(tool_input.get("command", ""))
        capabilities, context, targets = _bash(command, cwd)
        summary = f"$ {command}"
        if tool_input.get("description"):
            summary = f"{tool_input['description']}\n{summary}"
    elif tool_name in WRITE_TOOLS:
        path = str(tool_input.get(WRITE_TOOLS[tool_name], ""))
        capabilities, context = ["fs.write"], {"writes_files": True}
        targets = [_path_target(path, cwd)] if path else []
        summary = _edit_summary(tool_name, path, tool_input)
    elif tool_name in READ_TOOLS:
        read = tool_input.get("file_path") or tool_input.get("notebook_path") or tool_input.get("path")
        capabilities = ["fs.read"]
        targets = [_path_target(str(read), cwd)] if read else []
        summary = f"{tool_name} {read or tool_input.get('pattern', '')}".strip()
    elif tool_name == "WebFetch":
        url = str(tool_input.get("url", ""))
        capabilities, context = ["net.http"], {"external_network": True}
        targets = [host] if (host := _host(url)) else []
        summary = f"Fetch {url}"
    elif tool_name == "WebSearch":
        capabilities, context = ["net.search"], {"external_network": True}
        summary = f"Search the web for {tool_input.get('query', '')!r}"
    elif tool_name.startswith("mcp__"):
        server = tool_name.split("__")[1] if tool_name.count("__") >= 2 else ""
        capabilities = ["mcp.call"]
        targets = [f"mcp:{server}"] if server else []
        summary = f"MCP tool {tool_name} with {_json(tool_input)}"
    else:
        capabilities = ["agent.tool"]
        summary = f"{tool_name} with {_json(tool_input)}"
    if targets:
        context["targets"] = list(dict.fromkeys(target[:MAX_TARGET] for target in targets if target))[:MAX_TARGETS]
    return {"tool": tool_name[:200], "capabilities": capabilities, "context": context, "arguments": tool_input,
            "summary": _clip(summary)}


def _clip(text: str) -> str:
    text = text or "(no input)"
    return text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY - 20] + "\n… (truncated)"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _path_target(path: str, cwd: str | None) -> str:
    """``./rel`` inside the project, else the path as given (normalised)."""
    if path.startswith("~"):
        return posixpath.normpath(path)
    if cwd and not posixpath.isabs(path):
        path = posixpath.join(cwd, path)
    path = posixpath.normpath(path)
    if cwd and posixpath.isabs(cwd):
        root = posixpath.normpath(cwd)
        if path == root:
            return "."
        if path.startswith(root.rstrip("/") + "/"):
            return "./" + path[len(root.rstrip("/")) + 1:]
    return path


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _edit_summary(tool: str, path: str, tool_input: dict[str, Any]) -> str:
    """A unified diff for Edit/MultiEdit, the new content for Write."""
    if tool == "Write":
        content = str(tool_input.get("content", ""))
        lines = content.splitlines()
        return "\n".join([f"Write {path} ({len(lines)} lines)", f"+++ {path}", *(f"+{line}" for line in lines)])
    if tool == "NotebookEdit":
        return f"Edit notebook {path}:\n{tool_input.get('new_source', '')}"
    edits = tool_input.get("edits") if tool == "MultiEdit" else [tool_input]
    parts = [f"{tool} {path}"]
    for edit in edits if isinstance(edits, list) else []:
        if not isinstance(edit, dict):
            continue
        old, new = str(edit.get("old_string", "")), str(edit.get("new_string", ""))
        name = path.lstrip("/")
        parts.extend(difflib.unified_diff(old.splitlines(), new.splitlines(), f"a/{name}", f"b/{name}", lineterm=""))
    return "\n".join(parts)


#: What :func:`_shell_segments`' lexer treats specially besides spaces and tabs: quotes, the
#: escape, comments, operators, line ends. A line without any is one command of words.
_SHELL_SPECIAL = re.compile(r"['\"\\#();<>|&\r\n]")
_BLANKS = re.compile(r"[ \t]+")


def _segments(command: str) -> list[list[str]]:
    """The simple commands of a shell line, split at operators (``&&``, ``;``, ``|``, …).

    A line with nothing special in it (``pytest -q tests/``, most of what agents run) is split
    at its blanks, which is what the lexer gives for it at a third of the cost."""
    if _SHELL_SPECIAL.search(command) is None:
        words = [word for word in _BLANKS.split(command) if word]
        return [words] if words else []
    return _shell_segments(command)


def _shell_segments(command: str) -> list[list[str]]:
    try:
        lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # an unclosed quote: judge the words anyway
        tokens = re.split(r"\s+|(&&|\|\||;|\|)", command)
        tokens = [token for token in tokens if token]
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in OPERATORS or (token and set(token) <= set("&|;()")):
            segments.append([])
        else:
            segments[-1].append(token)
    return [segment for segment in segments if segment]


def _bash(command: str, cwd: str | None) -> tuple[list[str], dict[str, Any], list[str]]:
    capabilities: list[str] = []
    context: dict[str, Any] = {}
    targets: list[str] = []
    managers: list[str] = []
    for words in _segments(command):
        while words and (ASSIGNMENT.match(words[0]) or words[0] in WRAPPERS or words[0] in PRIVILEGE):
            if words[0] in PRIVILEGE:
                context["elevated_privileges"] = True
            words = words[1:]
            while words and words[0].startswith("-"):  # sudo -u root, env -i, timeout -s …
                words = words[1:]
        if not words:
            continue
        name, args = posixpath.basename(words[0]), words[1:]
        if name in ("python", "python3") and args[:2] == ["-m", "pip"]:
            name, args = "pip", args[2:]
        if name in ("pip3",):
            name = "pip"
        operands = [arg for arg in args if not arg.startswith("-")]
        if name in WRITERS:
            context["writes_files"] = True
            targets.extend(_path_target(arg, cwd) for arg in operands if not URL.match(arg) and "=" not in arg)
        if name == "rm":
            recursive = any(arg == "--recursive" or (re.match(r"^-[a-zA-Z]+$", arg) and set(arg[1:]) & {"r", "R"})
                            for arg in args)
            capabilities.append("fs.delete.recursive" if recursive else "fs.delete")
        elif name == "git":
            sub = _git_subcommand(args)
            if sub == "push":
                capabilities.append("git.push")
            if sub in GIT_NETWORK:
                context["external_network"] = True
        elif name in INSTALLERS and operands and operands[0] in INSTALLERS[name]:
            capabilities.append("pkg.install")
            managers.append(name)
            context["external_network"] = True
        elif name in NO_INSTALL_NEEDED:
            capabilities.append("pkg.install")
            managers.append("npm" if name == "npx" else "bun")
            context["external_network"] = True
        if name in NETWORK_COMMANDS:
            capabilities.append("net.http")
            context["external_network"] = True
        for arg in args:
            if URL.match(arg):
                if (host := _host(arg)) is not None:
                    targets.append(host)
            elif name not in WRITERS and not arg.startswith("-") and ("/" in arg or "." in arg or arg.startswith("~")):
                targets.append(_path_target(arg.split("=", 1)[-1] if arg.startswith("--") else arg, cwd))
        for arg in args:  # redirections: ``> file`` writes it
            if arg in (">", ">>"):
                context["writes_files"] = True
    if managers:
        context["package_manager"] = managers[0]
    # shell.exec last: of equally strict atoms the first decides, and the specific one names the reason
    return [*dict.fromkeys(capabilities), "shell.exec"], context, targets


def _git_subcommand(args: list[str]) -> str | None:
    """``git -C dir --no-pager push`` → ``push``."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-C", "-c", "--git-dir", "--work-tree", "--namespace"):
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None
