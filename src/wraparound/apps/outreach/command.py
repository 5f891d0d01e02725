"""What ``wraparound app outreach build`` does once Django is set up (the command itself is a
thin shell in ``apps/cli.py``): the build with a Rich progress bar per step, and its summary
as JSON. Never in a request: the pages read what this stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

STEPS = {
    "warehouse": "Warehouse query (engine)",
    "app": "App state (register, care plans)",
    "store": "Storing the call list",
}


def parse_as_of(text: str) -> dt.date | None:
    """``--as-of``: YYYY-MM-DD or empty (today); ValueError with the reason otherwise."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of must be YYYY-MM-DD, not {text!r}") from None


def run_build(cohort_id: str, warehouse: Path, on: dt.date | None) -> dict:
    from wraparound.apps.outreach.build import build

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:
        tasks = {step: bar.add_task(label, total=1) for step, label in STEPS.items()}

        def tell(step: str, done: int, total: int) -> None:
            bar.update(tasks[step], completed=done, total=max(total, 1))

        made = build(cohort_id, warehouse, on=on, progress=tell)
        if made.size == 0:
            bar.update(tasks["store"], completed=1, total=1)
    return {
        "cohort": made.cohort_id,
        "version": made.cohort_version,
        "as_of": made.as_of.isoformat(),
        "found_in_warehouse": made.found,
        "on_call_list": made.size,
        "left_out": made.left_out,
        "seconds": made.seconds,
    }
