"""``wraparound refresh``: the overnight run, every stage from the day's feed to the app.

In order (the stages ``make demo`` runs, in its order): **ingest** the feed files given
(``sources/ingest.py``, as ``wraparound ingest``; skipped on a night without a feed),
**stratify** (risk, eFI, streams, registers), **demand** (the projection, with the growth the
last projection used), **indicators**, **evaluate** (every intervention the warehouse has an
evaluation of, and any named with ``--intervention``; skipped when there is none),
**local_qof**, then the app: **app_refresh** (``apps/refresh.py``: a full load the first time
the app database sees this warehouse, incremental after), **app_events** (the export back to
``DIR/app_events/``) and **app_commit**.

A failed stage leaves the previous night's results serving:

- each warehouse stage publishes all or nothing already (ingest by ``Warehouse.transaction``,
  the others by writing a run aside and replacing ``latest.json``, ``analytics/results.py``),
  so a failed one leaves the previous run the newest;
- the three app stages run in **one database transaction** (``transaction.atomic`` here, not
  in ``apps/refresh.py``): a failure in any of them rolls the app database back whole, so the
  worklists, registers, alerts and scorecards stay as the previous refresh left them;
- after a failure no later stage runs (they are reported ``skipped``), the command exits 1 with
  one sentence naming the stage, and the run report records it.

On SQLite the one transaction holds the database's write lock for the whole app refresh:
pages go on reading the previous state (WAL), but a write from the app meanwhile (an audit
row) waits for it, up to the 20 s busy timeout. Run it out of hours, or on PostgreSQL, where
readers and writers carry on. Files the app refresh writes beside the database (the timeline
and record indexes under ``DIR/app_index/``) are named by warehouse snapshot and built from
that snapshot alone, so a rolled-back refresh leaves at most a complete index for the new
snapshot, which the next refresh reuses.

Every stage's wall time and peak memory go into a JSON run report (``DIR/runs/overnight/
<UTC timestamp>.json``, or ``--report PATH``). Peak memory is the kernel's own high-water mark
of this process's resident set (``VmHWM``), reset at the start of each stage by writing ``5``
to ``/proc/self/clear_refs`` (Linux 4.0+), so it is exact for the stage, spikes between samples
included (``getrusage``'s ``ru_maxrss`` is the process's lifetime peak, so every stage after
the largest would report the largest). Child processes (ingest's reading pool on a large feed)
are sampled separately every 0.1 s with psutil and reported as ``children_peak_rss_mib``.
Where ``clear_refs`` cannot be written, this process is sampled too (``memory_method`` says
which). docs/cli.md and docs/architecture.md describe the command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from wraparound.warehouse import paths as warehouse_paths

STAGES = (
    "ingest",
    "stratify",
    "demand",
    "indicators",
    "evaluate",
    "local_qof",
    "app_refresh",
    "app_events",
    "app_commit",
)
APP_STAGES = ("app_refresh", "app_events", "app_commit")
LABELS = {
    "ingest": "ingest the feed",
    "stratify": "stratify (risk, registers)",
    "demand": "demand projection",
    "indicators": "indicators",
    "evaluate": "evaluate interventions",
    "local_qof": "local QOF",
    "app_refresh": "app refresh",
    "app_events": "app events export",
    "app_commit": "app commit",
}
DEFAULT_GROWTH = "east_leicestershire"


class StageError(Exception):
    """A stage that could not complete, with the sentence the command prints."""


def report_dir(warehouse: Path) -> Path:
    """Where run reports go unless ``--report`` names a file: ``DIR/runs/overnight/``."""
    return warehouse_paths.overnight_runs(warehouse)


# --- peak memory ---------------------------------------------------------------------------


def _status_kib(field_name: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else None


def _reset_high_water_mark() -> bool:
    """Reset this process's ``VmHWM`` to its current resident set; False where the kernel
    does not offer it (not Linux, or ``/proc`` read-only)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


class PeakMemory:
    """The peak resident memory of this process (and, sampled, of its children) in a block."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.exact = False
        self.self_peak = 0
        self.at_start = 0
        self.children_peak = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._me = psutil.Process()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            with contextlib.suppress(psutil.Error):
                if not self.exact:
                    self.self_peak = max(self.self_peak, self._me.memory_info().rss)
                kids = 0
                for child in self._me.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        kids += child.memory_info().rss
                self.children_peak = max(self.children_peak, kids)

    def __enter__(self) -> PeakMemory:
        self.exact = _reset_high_water_mark()
        self.self_peak = self.at_start = self._me.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self.exact:
            self.self_peak = max(self.self_peak, (_status_kib("VmHWM") or 0) * 1024)
        else:
            with contextlib.suppress(psutil.Error):
                self.self_peak = max(self.self_peak, self._me.memory_info().rss)

    @property
    def method(self) -> str:
        return (
            "VmHWM reset per stage (/proc/self/clear_refs)"
            if self.exact
            else f"resident set sampled every {self.interval} s (psutil)"
        )

    def as_dict(self) -> dict:
        return {
            "peak_rss_mib": round(self.self_peak / 2**20, 1),
            "rss_at_start_mib": round(self.at_start / 2**20, 1),
            "children_peak_rss_mib": round(self.children_peak / 2**20, 1),
        }


# --- the run -------------------------------------------------------------------------------


@dataclass
class Options:
    warehouse: Path
    feed: list[Path] = field(default_factory=list)
    report: Path | None = None
    start: str = "ingest"
    growth: str | None = None
    interventions: tuple[str, ...] = ()
    strict: bool = False
    progress: bool = True


@dataclass
class Run:
    """The run report being written, and the app transaction the app stages share."""

    options: Options
    stages: list[dict] = field(default_factory=list)
    memory_method: str = ""
    atomic: object = None
    app_refresh: dict | None = None

    @property
    def warehouse(self) -> Path:
        return self.options.warehouse


def _stage_ingest(run: Run) -> dict:
    if not run.options.feed:
        raise _Skip("no feed tonight")
    from wraparound.sources.ingest import run_ingest

    result = run_ingest(run.options.feed, run.warehouse, progress=False, strict=run.options.strict)
    report = result.report
    details = {
        "batch": report.get("batch"),
        "files": len(report.get("files", [])),
        "resources_read": report.get("resources_read"),
        "rows": report.get("rows"),
        "seconds": report.get("seconds"),
    }
    if not result.ok:
        first = report["errors"][0] if report.get("errors") else None
        where = f" (first: {first['file']}:{first['position']}: {first['reason']})" if first else ""
        raise StageError(f"{result.summary_line}{where}", details)
    return details


def _stage_stratify(run: Run) -> dict:
    import numpy as np

    from wraparound.analytics.stratify import run as stratify

    try:
        result = stratify(run.warehouse)
    except np.linalg.LinAlgError as exc:
        raise StageError(
            f"the risk model cannot be fitted on {run.warehouse} ({exc}): too few patients "
            "or admissions to learn from"
        ) from None
    keep = ("run_id", "model_version", "register_changes", "trees", "reasons", "timings")
    return {k: result[k] for k in keep if k in result}


def _stage_demand(run: Run) -> dict:
    from wraparound.analytics.demand import load_growth, project, read_projection

    growth, years = run.options.growth, 5
    if growth is None:
        previous = read_projection(run.warehouse) or {}
        growth = (previous.get("growth") or {}).get("id") or DEFAULT_GROWTH
        years = int(previous.get("years") or 5)
    result = project(run.warehouse, load_growth(growth), years=years, progress=False)
    return {"growth": growth, "years": years, "as_of": result["as_of"]}


def _stage_indicators(run: Run) -> dict:
    from wraparound.analytics.indicators.run import run as indicators

    manifest = indicators(run.warehouse)
    computed = [d["id"] for d in manifest["definitions"] if d["status"] == "computed"]
    return {
        "run_id": manifest["run_id"],
        "computed": len(computed),
        "awaiting_data": len(manifest["definitions"]) - len(computed),
        "periods": manifest["periods"],
        "timings": {k: v for k, v in manifest.get("timings", {}).items() if k.endswith("_s")},
    }


def applicable_interventions(warehouse: Path, named: Iterable[str] = ()) -> list[str]:
    """The interventions to evaluate tonight: every one ``DIR/evaluation/`` has a report of
    (evaluated before, so evaluated again on the new data), then any ``named``."""
    from wraparound.analytics.evaluation_run import read_report

    found = []
    base = warehouse_paths.evaluation(warehouse, "x").parent
    if base.is_dir():
        for folder in sorted(base.iterdir()):
            if folder.name.startswith(".") or not (folder / "report.json").is_file():
                continue
            report = read_report(warehouse, folder.name) or {}
            found.append((report.get("intervention") or {}).get("id") or folder.name)
    return list(dict.fromkeys([*found, *named]))


def _stage_evaluate(run: Run) -> dict:
    from wraparound.analytics.evaluation_run import evaluate
    from wraparound.interventions import load as load_intervention

    chosen = applicable_interventions(run.warehouse, run.options.interventions)
    if not chosen:
        raise _Skip("no intervention evaluated on this warehouse")
    out = {}
    for name in chosen:
        report = evaluate(run.warehouse, load_intervention(name), progress=False)
        out[name] = {o: r["attributable"] for o, r in report["outcomes"].items()}
    return {"interventions": out}


def _stage_local_qof(run: Run) -> dict:
    from wraparound.analytics.local_qof.run import run as local_qof

    manifest = local_qof(run.warehouse)
    return {"run_id": manifest["run_id"], "scheme": manifest["scheme"]["id"]}


def _stage_app_refresh(run: Run) -> dict:
    from wraparound.apps.django_setup import migrate, setup_django

    setup_django(run.warehouse)
    from django.db import transaction

    from wraparound.apps.refresh import refresh

    migrate()  # schema first, outside the refresh's transaction
    # Every app stage runs inside this one transaction; _run_app commits or rolls it back.
    run.atomic = transaction.atomic()
    run.atomic.__enter__()
    result = refresh(run.warehouse)
    run.app_refresh = result
    keep = (
        "mode",
        "touched_patients",
        "patients",
        "patients_without_identity",
        "contacts",
        "register_run",
        "indicator_run",
        "local_qof_run",
        "alerts",
        "step_seconds",
    )
    return {k: result[k] for k in keep if k in result}


def _stage_app_events(run: Run) -> dict:
    from wraparound.apps.export_events import export_app_events

    return export_app_events(run.warehouse, (run.app_refresh or {}).pop("touched_ids", None))


def _stage_app_commit(run: Run) -> dict:
    atomic, run.atomic = run.atomic, None
    atomic.__exit__(None, None, None)
    return {}


STAGE_FUNCTIONS: dict[str, Callable[[Run], dict]] = {
    "ingest": _stage_ingest,
    "stratify": _stage_stratify,
    "demand": _stage_demand,
    "indicators": _stage_indicators,
    "evaluate": _stage_evaluate,
    "local_qof": _stage_local_qof,
    "app_refresh": _stage_app_refresh,
    "app_events": _stage_app_events,
    "app_commit": _stage_app_commit,
}


class _Skip(Exception):
    """A stage with nothing to do tonight (the reason is reported)."""


def _rollback(run: Run) -> None:
    """Roll the app's transaction back, if one is open: the app keeps its previous state."""
    if run.atomic is None:
        return
    from django.db import transaction

    atomic, run.atomic = run.atomic, None
    transaction.set_rollback(True)
    atomic.__exit__(None, None, None)


def _sentence(exc: BaseException) -> str:
    from wraparound.warehouse.check import one_line

    if isinstance(exc, StageError):
        return exc.args[0]
    text = one_line(exc)
    try:
        import duckdb

        if isinstance(exc, duckdb.Error):
            return f"the engine could not read the data: {text}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, ValueError | OSError):
        return text
    return f"{type(exc).__name__}: {text}"


def _sizes(warehouse: Path) -> dict:
    """Patients in the warehouse and its batch and snapshot, after the run."""
    from wraparound.warehouse.engine import connect
    from wraparound.warehouse.store import Warehouse

    wh = Warehouse(warehouse)
    if not wh.exists():
        return {}
    out = {"warehouse_batch": wh.manifest.batch, "snapshot": wh.manifest.snapshot}
    with contextlib.suppress(Exception), connect(wh, engine="duckdb") as engine:
        pats = engine.table("patients")
        out["patients"] = int(engine.to_arrow(pats.aggregate(n=pats.count()))["n"][0].as_py())
    return out


def _app_database() -> dict:
    """Which app database the app stages write (``WRAPAROUND_DB`` or ``DATABASE_URL``): its
    engine, and its file or host and name, never a user or password."""
    from urllib.parse import urlsplit

    from wraparound import config

    settings = config.current()
    if not settings.database_url:
        return {"engine": "sqlite", "name": str(settings.sqlite_path)}
    url = urlsplit(settings.database_url)
    return {"engine": url.scheme, "host": url.hostname or "", "name": url.path.lstrip("/")}


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description:<30}"),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        disable=not enabled,
    )


def run(options: Options, debug: bool = False) -> dict:
    """Run every stage from ``options.start`` on, stopping at the first failure; write and
    return the run report (``outcome`` ``ok`` or ``failed``, ``failed_stage``, ``error``)."""
    options.warehouse = Path(options.warehouse).resolve()
    if options.start not in STAGES:
        raise ValueError(f"--from {options.start}: not a stage (one of {', '.join(STAGES)})")
    if options.feed and STAGES.index(options.start) > 0:
        raise ValueError(f"feed files were given but --from {options.start} skips the ingest")
    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    run_ = Run(options)
    failed: str | None = None
    error: str | None = None
    pending: BaseException | None = None
    with _progress(options.progress) as bar:
        tasks = {name: bar.add_task(LABELS[name], total=1, start=False, note="") for name in STAGES}
        for name in STAGES:
            entry: dict = {"stage": name}
            run_.stages.append(entry)
            if STAGES.index(name) < STAGES.index(options.start):
                entry.update(status="skipped", reason=f"--from {options.start}")
                bar.update(tasks[name], note="skipped (--from)")
                continue
            if failed is not None:
                entry.update(status="skipped", reason=f"{failed} failed")
                bar.update(tasks[name], note="skipped")
                continue
            bar.start_task(tasks[name])
            stage_clock = time.perf_counter()
            memory = PeakMemory()
            try:
                with memory:
                    details = STAGE_FUNCTIONS[name](run_)
                entry.update(status="ok", details=details)
            except _Skip as skip:
                entry.update(status="skipped", reason=str(skip))
            except KeyboardInterrupt as exc:  # Ctrl-C: the app rolled back, the report written
                failed, error = name, "interrupted"
                entry.update(status="failed", error=error)
                pending = exc
                if name in APP_STAGES:
                    _rollback(run_)
            except Exception as exc:
                failed, error = name, _sentence(exc)
                entry.update(status="failed", error=error)
                if isinstance(exc, StageError) and len(exc.args) > 1:
                    entry["details"] = exc.args[1]
                if debug:
                    pending = exc
                if name in APP_STAGES:
                    _rollback(run_)
            seconds = round(time.perf_counter() - stage_clock, 3)
            entry.update(seconds=seconds, **memory.as_dict())
            run_.memory_method = memory.method
            note = {
                "ok": f"{seconds:.1f} s, peak {entry['peak_rss_mib']:,.0f} MiB",
                "skipped": f"skipped: {entry.get('reason', '')}",
                "failed": "failed",
            }[entry["status"]]
            bar.stop_task(tasks[name])
            bar.update(tasks[name], completed=1, note=note)
    ingest = next(s for s in run_.stages if s["stage"] == "ingest")
    report = {
        "command": "wraparound refresh",
        "warehouse": str(Path(options.warehouse).resolve()),
        "feed": [str(p) for p in options.feed],
        "app_database": _app_database(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 3),
        "outcome": "failed" if failed else "ok",
        "failed_stage": failed,
        "error": error,
        "app": (
            "unchanged: as the previous refresh left it"
            if failed
            else f"refreshed ({(run_.app_refresh or {}).get('mode', 'not run')})"
        ),
        "sizes": {
            **_sizes(options.warehouse),
            "resources_ingested": (ingest.get("details") or {}).get("resources_read", 0)
            if ingest["status"] == "ok"
            else 0,
        },
        "peak_rss_mib": max((s.get("peak_rss_mib", 0) for s in run_.stages), default=0),
        "memory_method": run_.memory_method,
        "stages": run_.stages,
    }
    report["path"] = str(_write_report(options, report, started_at))
    if pending is not None:
        raise pending
    return report


def _write_report(options: Options, report: dict, started_at: dt.datetime) -> Path:
    path = options.report
    if path is None:
        folder = report_dir(options.warehouse)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
        n = 1
        while path.exists():  # two runs in one second
            path = folder / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{n}.json"
            n += 1
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({**report, "path": str(path)}, indent=2, default=str))
    tmp.replace(path)
    return path
