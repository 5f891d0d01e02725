"""``wraparound app serve`` and the morning-rush benchmark run one gunicorn command line
(``web/serving.py``): sync workers, one per core and one more, unless threads are asked for."""

from __future__ import annotations

import os

from wraparound.web.serving import WSGI, default_workers, gunicorn_command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_sync_workers_one_per_core_and_one_more_by_default():
    command = gunicorn_command("127.0.0.1:8000")
    assert command[1:4] == ["-m", "gunicorn", WSGI]
    assert _option(command, "--bind") == "127.0.0.1:8000"
    assert _option(command, "--worker-class") == "sync"
    assert _option(command, "--workers") == str(default_workers()) == str(os.cpu_count() + 1)
    assert "--access-logformat" not in command


def test_threads_give_gthread_workers_and_the_benchmark_its_access_log():
    command = gunicorn_command(
        "127.0.0.1:9", workers=4, threads=4, access_log="/tmp/a.log", access_format="%(D)s"
    )
    assert _option(command, "--worker-class") == "gthread"
    assert (_option(command, "--workers"), _option(command, "--threads")) == ("4", "4")
    assert _option(command, "--access-logfile") == "/tmp/a.log"
    assert _option(command, "--access-logformat") == "%(D)s"
