"""The directory where several processes keep their metrics (prometheus_client's multiprocess mode).

prometheus_client picks its storage when it is first imported: with ``PROMETHEUS_MULTIPROC_DIR``
in the environment every value is a memory-mapped file there, one set per process, which
``/metrics`` adds up. So the variable is set for the processes before they start (``heso run``
does it for its children), and the directory is emptied before they start, or the last run's
counters would be added to this one's. Gauges that describe live processes (long-polls
waiting) must forget a process when it dies: :func:`mark_dead`, from gunicorn's ``child_exit``.

This module imports prometheus_client only inside its functions: the supervisor calls it
before any child (and without choosing a storage for itself).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: str | os.PathLike[str]) -> str:
    """Create ``directory`` if needed and delete the metric files a previous run left there."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return str(path)


def mark_dead(pid: int) -> None:
    """Forget a dead process's live gauges (its counters stay: they happened)."""
    directory = os.environ.get(ENV)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


__all__ = ["ENV", "mark_dead", "prepare"]
