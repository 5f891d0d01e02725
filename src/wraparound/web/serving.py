"""How gunicorn serves the app: the one command line that ``wraparound app serve`` runs and
the morning-rush benchmark (``benchmarks/bench_rush.py``) measures.

gunicorn's sync workers, one request at a time per process, ``cores + 1`` processes, by
default. Pages are CPU-bound Python, so threads in one process only queue for its one
interpreter lock. Measured at 300k with 50 users and no think time (docs/benchmarks.md):

- With gthread (2 processes x 4 threads), each page took about four times its idle time.
  Each keep-alive connection also stays with the process that accepted it, so an uneven
  split of connections gave some users twice the wait of others: p95 470 ms.
- With sync workers, a request waits in the kernel's one accept queue until any process is
  free, first come first served: p95 260-270 ms at the same throughput (about 250 pages a
  second on two cores).

Sync workers hold no connection open between requests and read each request whole, so on an
open network they belong behind a buffering proxy (nginx), as gunicorn's documentation says.
``--threads`` above 1 gives gthread workers instead, for clients that need keep-alive
straight to gunicorn.
"""

from __future__ import annotations

import os
import sys

WSGI = "wraparound.web.wsgi:application"


def default_workers() -> int:
    """One process per core and one more, so a slow request never leaves a core idle."""
    return (os.cpu_count() or 1) + 1


def gunicorn_command(
    bind: str,
    workers: int | None = None,
    threads: int = 1,
    access_log: str = "-",
    access_format: str | None = None,
) -> list[str]:
    """The gunicorn command line that serves the app on ``bind`` (``host:port``)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        WSGI,
        "--bind",
        bind,
        "--workers",
        str(workers or default_workers()),
        "--worker-class",
        "sync" if threads == 1 else "gthread",
        "--threads",
        str(threads),
        "--access-logfile",
        access_log,
        "--log-level",
        "warning",
    ]
    if access_format:
        command += ["--access-logformat", access_format]
    return command
