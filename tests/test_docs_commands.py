"""Every ``heso …`` command the guides show exists, with the options they give it.

A new user copies these lines; a renamed command or option must fail here, not for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from heso.cli import cli
from heso.migrations import db_group

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `heso` then words (commands, `a|b` alternatives, arguments, options), up to a backtick, a comment or the line's end.
INVOCATION = re.compile(r"(?:^|[\s`(])(?:\.venv/bin/)?heso((?: +[^\s`#&|;)]+(?:\|[^\s`#&;)]+)*)+)", re.MULTILINE)


def invocations() -> list[tuple[str, str]]:
    found = []
    for guide in GUIDES:
        for match in INVOCATION.finditer(guide.read_text()):
            words = match.group(1).split()
            if words and re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", words[0]):
                found.append((guide.relative_to(ROOT).as_posix(), " ".join(words)))
    return sorted(set(found))


COMMANDS = {**cli.commands, "db": db_group}


def resolve(words: list[str]) -> list[tuple[click.Command, list[str]]]:
    """Each command the words name (``a|b`` names several), with the words left for it."""
    resolved = []
    for name in words[0].split("|"):
        command = COMMANDS.get(name)
        assert command is not None, f"no command heso {name}"
        if isinstance(command, click.Group) and len(words) > 1 and re.fullmatch(r"[a-z][a-z|-]*", words[1]):
            for sub in words[1].split("|"):
                assert sub in command.commands, f"no command heso {name} {sub}"
                resolved.append((command.commands[sub], words[2:]))
        else:
            resolved.append((command, words[1:]))
    return resolved


@pytest.mark.parametrize(("guide", "line"), invocations())
def test_the_command_and_its_options_exist(guide, line):
    for command, rest in resolve(line.split()):
        known = {option for param in command.params for option in getattr(param, "opts", [])}
        known |= {option for param in command.params for option in getattr(param, "secondary_opts", [])}
        for word in rest:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--"):
                assert option in known, f"{guide}: `heso {line}`: {command.name} has no {option}"


def test_the_guides_show_commands():
    assert len(invocations()) > 30  # the pattern still finds them
