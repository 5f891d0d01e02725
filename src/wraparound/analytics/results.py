"""Where published analytic results live, and how a run becomes visible.

A run writes everything into ``DIR/results/<kind>/<run_id>/`` (built in a temporary
directory and renamed into place whole), then replaces ``DIR/results/<kind>/latest.json``
with ``os.replace``. Readers (the app) follow ``latest.json`` only, so they see the previous
run or the new one, never a half-written one. Runs are kept, so a register can be compared
with the previous refresh and an old result re-read for audit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from wraparound.warehouse import paths

LATEST = paths.LATEST


def kind_dir(warehouse: Path, kind: str) -> Path:
    return paths.results(warehouse, kind)


def latest_run(warehouse: Path, kind: str) -> Path | None:
    """The directory of the newest published run, or None."""
    pointer = kind_dir(warehouse, kind) / LATEST
    if not pointer.exists():
        return None
    run = kind_dir(warehouse, kind) / json.loads(pointer.read_text())["run_id"]
    return run if run.exists() else None


def new_run_id(stamp: dt.datetime | None = None) -> str:
    return (stamp or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def staging(warehouse: Path, kind: str, run_id: str) -> Path:
    path = kind_dir(warehouse, kind) / f".{run_id}.tmp"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def publish(warehouse: Path, kind: str, run_id: str, pointer: dict) -> Path:
    """Move the staged run into place, then point ``latest.json`` at it (last, atomically)."""
    base = kind_dir(warehouse, kind)
    final = base / run_id
    os.replace(base / f".{run_id}.tmp", final)
    tmp = base / f".{LATEST}.tmp"
    tmp.write_text(json.dumps({"run_id": run_id, **pointer}, indent=2, default=str))
    os.replace(tmp, base / LATEST)
    return final
