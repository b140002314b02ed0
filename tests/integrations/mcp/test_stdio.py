"""The MCP commands' thread-free stdin/stdout (heso.integrations.mcp.stdio), in a real process on real pipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVER = """
import os
import anyio
from heso.integrations.mcp.stdio import standard_streams

async def main():
    async with standard_streams() as (stdin, stdout):
        assert stdin is not None, "pipes get the thread-free streams"
        print("stray print", flush=True)  # must not reach the protocol
        os.write(1, b"stray write\\n")
        async for line in stdin:
            await stdout.write(f"{len(line)}:{line}")
            await stdout.flush()
    print("after", flush=True)

anyio.run(main)
"""


def test_lines_longer_than_a_pipe_pass_whole_and_stray_output_goes_to_stderr() -> None:
    long_line = "é" * 200_000  # 400 kB: more than a pipe holds, both ways
    sent = f"first\n{long_line}\n\nlast without newline".encode()
    done = subprocess.run([sys.executable, "-c", SERVER], input=sent, capture_output=True, timeout=60, check=True)
    assert done.stdout.decode() == (f"6:first\n200001:{long_line}\n1:\n20:last without newline"
                                    "after\n")  # fd 1 is the wire again once the streams are closed
    assert b"stray print" in done.stderr and b"stray write" in done.stderr


def test_a_file_as_stdin_gets_the_sdk_streams(tmp_path: Path) -> None:
    script = ("import anyio\nfrom heso.integrations.mcp.stdio import standard_streams\n"
              "async def main():\n    async with standard_streams() as streams:\n        print(streams)\n"
              "anyio.run(main)\n")
    source = tmp_path / "in.txt"
    source.write_text("{}\n")
    with source.open("rb") as stdin:
        done = subprocess.run([sys.executable, "-c", script], stdin=stdin, capture_output=True, timeout=60,
                              check=True)
    assert done.stdout.decode().strip() == "(None, None)"
