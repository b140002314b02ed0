"""An agent that asks a human before it runs a shell command.

    # once: an admin mints a bootstrap token (heso agents invite, or POST /v1/agents/bootstrap-tokens)
    export HESO_ENDPOINT=http://127.0.0.1:5000
    python examples/agent_demo.py --bootstrap hesobs_… --approver ops@example.com "df -h"

The first run trades the bootstrap token for the agent's own API key and keeps it in
``--key-file`` (mode 0600); later runs reuse it (or take ``HESO_API_KEY``). Each run asks the
approver; the command runs only once approved, exactly as approved: an approver who
*modifies* the decision with ``{"arguments": {"command": "df -h /"}}`` gets that command run
instead. Exit status: the command's own, or 1 when denied, 2 when nobody answered in time.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from heso.client import Decision, Denied, Expired, HesoClient, Modified, require_approval


def client_for(args: argparse.Namespace) -> HesoClient:
    key_file = Path(args.key_file)
    key = os.environ.get("HESO_API_KEY") or (key_file.read_text().strip() if key_file.exists() else None)
    client = HesoClient(api_key=key, endpoint=args.endpoint)
    if key is None:
        if not args.bootstrap:
            sys.exit("No API key yet: pass --bootstrap <token> (heso agents invite) or set HESO_API_KEY.")
        agent = client.register(args.bootstrap, name=args.name, description="examples/agent_demo.py")
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(agent.api_key or "")
        print(f"Registered as {agent.id}; key saved to {key_file}.", file=sys.stderr)
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", help="the shell command to run once approved")
    parser.add_argument("--approver", required=True)
    parser.add_argument("--endpoint", default=os.environ.get("HESO_ENDPOINT", "http://127.0.0.1:5000"))
    parser.add_argument("--bootstrap", help="bootstrap token, for the first run")
    parser.add_argument("--name", default=None, help="the agent's name (default: the one given at invite)")
    parser.add_argument("--key-file", default=".heso-agent-key")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the approver has")
    args = parser.parse_args(argv)
    client = client_for(args)

    def pending(decision: Decision) -> None:
        print(f"Decision {decision.id} is pending; approve it with "
              f"POST {args.endpoint}/v1/decisions/{decision.id}/resolve", file=sys.stderr)

    @require_approval(action=lambda command: f"Run shell command: {command}", approver=args.approver,
                      timeout=args.timeout, client=client, on_pending=pending)
    def run_shell(command: str) -> int:
        print(f"allowed, running: {command}", file=sys.stderr)
        return subprocess.run(shlex.split(command), check=False).returncode

    print(f"Asking {args.approver} before running {args.command!r} …", file=sys.stderr)
    try:
        return run_shell(args.command)
    except (Denied, Modified) as refusal:
        print(f"not run: {refusal.message}", file=sys.stderr)
        return 1
    except Expired as expired:
        print(f"not run: {expired.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
