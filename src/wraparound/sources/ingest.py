"""``wraparound ingest``: validate a batch of FHIR / CSV files and load it, all or nothing.

The batch is everything named in one invocation. It is read completely (``fhir.read``,
``csv.read``), then references are resolved and row rules applied (``ingest_resolve``), and
only if nothing at all was rejected is it merged into the warehouse, every table in one
``Warehouse.transaction`` with ``merge.upsert`` (newest version of each id wins; a repeat
load changes nothing). A rejected batch never opens a transaction, so the warehouse's
manifest and files stay byte-identical. docs/ingest.md describes the rules and the report.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from wraparound.sources.csv.read import read_csv_file
from wraparound.sources.fhir.extract import Context
from wraparound.sources.fhir.read import read_fhir_file
from wraparound.sources.ingest_batch import CSV, RESOURCE, Batch
from wraparound.sources.ingest_resolve import resolve_batch
from wraparound.sources.ingest_rules import COLUMNS
from wraparound.sources.ingest_values import UNREADABLE_FILE, Clock, Reject
from wraparound.warehouse.engine import IbisEngine, connect
from wraparound.warehouse.merge import MergeStats, upsert
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import TABLES, empty
from wraparound.warehouse.store import Warehouse, WarehouseError

SUFFIXES = (".json", ".ndjson", ".csv")
UNSUPPORTED_FILE = "unsupported_file"
# The report lists at most this many errors (all are counted in error_counts); a broken
# million-line file should give a readable report, not a gigabyte of JSON.
MAX_ERRORS = 10_000


@dataclass
class IngestResult:
    ok: bool
    report: dict
    summary_line: str


def run_ingest(
    paths: Iterable[str | os.PathLike],
    warehouse: str | os.PathLike | Warehouse,
    progress: bool = True,
    now: datetime | None = None,
    pseudonymiser: Pseudonymiser | None = None,
) -> IngestResult:
    """Validate and load ``paths`` into ``warehouse`` as one batch (see module docstring).

    ``now`` is the load time that dates are judged against (default: the clock);
    ``pseudonymiser`` defaults to one keyed from the environment.
    """
    started = time.perf_counter()
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    batch = Batch(Clock(now))
    ctx = Context(batch, pseudonymiser or Pseudonymiser())
    files = _discover([Path(p) for p in paths], batch)
    snapshot = wh.manifest.snapshot
    with _progress(progress) as bar:
        reading = bar.add_task("reading", total=sum(_size(f) for f in files) or None)

        def advance(n: int) -> None:
            bar.update(reading, advance=n)

        for path in files:
            bar.update(reading, description=f"reading {path.name}")
            if path.suffix.lower() == ".csv":
                read_csv_file(path, ctx, advance)
            else:
                read_fhir_file(path, ctx, advance)
        bar.update(reading, description="checking references")
        resolve_batch(batch, wh, ctx.pseudo)
        stats: dict[str, MergeStats] = {}
        written_batch = None
        if not batch.errors:
            bar.update(reading, description="writing")
            written_batch = _write(wh, batch, snapshot, stats)
    report = _report(wh, batch, stats, written_batch, time.perf_counter() - started)
    return IngestResult(report["ok"], report, _summary_line(report))


def _discover(paths: list[Path], batch: Batch) -> list[Path]:
    """Files to read, in a stable order: as named, folders recursed in sorted order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(path)
        else:
            file_no = batch.add_file(path, RESOURCE)
            if path.exists():
                problem = Reject(
                    UNSUPPORTED_FILE, f"{path.name}: ingest reads {', '.join(SUFFIXES)} files"
                )
            else:
                problem = Reject(UNREADABLE_FILE, f"{path}: no such file or folder")
            batch.file_error(file_no, problem, "file")
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def _arrow(table: str, rows: list[list]) -> pa.Table:
    """Columnar Arrow table from row lists (transposed once, typed by the schema)."""
    schema = TABLES[table]
    columns = list(zip(*rows, strict=True))
    arrays = [
        pa.array(col, type=schema.field(name).type)
        for name, col in zip(COLUMNS[table], columns, strict=True)
    ]
    arrays.append(pa.nulls(len(rows), pa.int64()).fill_null(0))  # batch: set by upsert
    return pa.Table.from_arrays(arrays, schema=schema)


class _FirstLoadEngine(IbisEngine):
    """The engine for a warehouse's first load, which has no current tables to merge with."""

    def table(self, name: str):
        return self.memtable(empty(name))


def _write(wh: Warehouse, batch: Batch, snapshot: int, stats: dict[str, MergeStats]) -> int:
    summary: dict = {"source": "ingest", "files": len(batch.files)}
    # Writes go through DuckDB whatever WRAPAROUND_ENGINE says: the store publishes single
    # Parquet files per table from the machine that holds the warehouse (docs/spark.md).
    base = connect(wh, engine="duckdb")
    engine = base if wh.exists() else _FirstLoadEngine(base.name, base.backend, wh)
    try:
        with wh.transaction(summary) as tx:
            if tx.current.snapshot != snapshot:
                raise WarehouseError(f"{wh.root} changed while the batch was read; load it again")
            for table, rows in batch.rows.items():
                if rows:
                    stats[table] = upsert(engine, tx, table, _arrow(table, rows))
            summary["tables"] = {t: s.as_dict() for t, s in stats.items()}
            return tx.batch
    finally:
        engine.close()


def _report(
    wh: Warehouse,
    batch: Batch,
    stats: dict[str, MergeStats],
    written_batch: int | None,
    seconds: float,
) -> dict:
    errors = batch.errors
    rejected = len({(e["file"], e["position"], e["id"]) for e in errors})
    csv_rows = sum(f.resources for f in batch.files if f.format == CSV)
    return {
        "ok": not errors,
        "warehouse": str(wh.root),
        "batch": written_batch,
        "load_time": batch.clock.now.isoformat(),
        "seconds": round(seconds, 3),
        "files": [
            {"file": str(f.path), "format": f.format, "resources": f.resources} for f in batch.files
        ],
        "resources_read": sum(batch.read_by_type.values()) + csv_rows,
        "by_type": dict(sorted(batch.read_by_type.items())),
        "skipped_types": dict(sorted(batch.skipped_types.items())),
        "skipped": dict(sorted(batch.skipped.items())),
        "data_quality": dict(sorted(batch.data_quality.items())),
        "rows": {t: len(r) for t, r in batch.rows.items() if r},
        "tables": {t: s.as_dict() for t, s in stats.items()},
        "rejected": rejected,
        "error_counts": dict(sorted(Counter(e["code"] for e in errors).items())),
        "errors": errors[:MAX_ERRORS],
        "errors_truncated": max(0, len(errors) - MAX_ERRORS),
    }


def _summary_line(report: dict) -> str:
    if not report["ok"]:
        return (
            f"Rejected: {len(report['errors']) + report['errors_truncated']:,} errors in "
            f"{report['rejected']:,} resources/rows; nothing was written to "
            f"{report['warehouse']}"
        )
    totals = Counter()
    for table_stats in report["tables"].values():
        totals.update(table_stats)
    skipped = sum(report["skipped_types"].values())
    return (
        f"Loaded batch {report['batch']} into {report['warehouse']}: "
        f"{report['resources_read']:,} resources/rows from {len(report['files'])} files "
        f"({totals['inserted']:,} inserted, {totals['replaced']:,} replaced, "
        f"{totals['unchanged']:,} unchanged; {skipped:,} of unsupported types skipped) "
        f"in {report['seconds']:.1f} s"
    )
