"""``wraparound ingest``: validate a batch of FHIR / CSV files and load it, all or nothing.

The batch is everything named in one invocation. With the warehouse's write lock held from
start to end (a second load is refused, never lost), it is read to staging Parquet files
inside the warehouse directory (``ingest_stage``: a worker process per core for a large batch,
large NDJSON files in spans), then references are resolved and row rules applied in DuckDB
over the staged rows (``ingest_check``), and only if nothing at all was rejected is it merged
into the warehouse, every table in one ``Warehouse.transaction`` (``merge.merge_staged``:
newest version of each id wins, a repeat load changes nothing, a partitioned table rewrites
only the periods it touches). Memory is bounded by chunks, not by the batch. A rejected batch
never opens a transaction, so the warehouse's manifest and files stay byte-identical; a load
killed at any point leaves the previous snapshot current, and the next load removes what it
left. docs/ingest.md describes the rules and the report.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
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

from wraparound.sources.fhir.read import FHIR_SUFFIXES
from wraparound.sources.ingest_batch import CSV, RESOURCE, Batch, SourceFile
from wraparound.sources.ingest_check import (
    check_staged,
    open_check,
    resolved_sql,
    staged_ids_sql,
)
from wraparound.sources.ingest_stage import SPAN_BYTES, Reader, plan_tasks, read_all
from wraparound.sources.ingest_values import UNREADABLE_FILE, Clock, Reject
from wraparound.warehouse.merge import MergeStats, current_sql, merge_staged
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import TABLES
from wraparound.warehouse.store import Warehouse, fault_point

SUFFIXES = (*FHIR_SUFFIXES, ".csv")  # matched against the whole name: ".ndjson.gz" too
UNSUPPORTED_FILE = "unsupported_file"
# The report lists at most this many errors (all are counted in error_counts); a broken
# million-line file should give a readable report, not a gigabyte of JSON.
MAX_ERRORS = 10_000
# Batches of at least this many bytes are read by a process per core; smaller ones here,
# where starting workers would cost more than it saves.
POOL_BYTES = 32 * 2**20


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
    strict: bool = False,
    workers: int | None = None,
    span_bytes: int = SPAN_BYTES,
) -> IngestResult:
    """Validate and load ``paths`` into ``warehouse`` as one batch (see module docstring).

    ``now`` is the load time that dates are judged against (default: the clock);
    ``pseudonymiser`` defaults to one keyed from the environment; ``strict`` validates every
    FHIR resource of a loaded type against the R4 models first (sources/fhir/validate.py);
    ``workers`` (default: one per core for a batch over ``POOL_BYTES``, else none) and
    ``span_bytes`` (NDJSON files are read in spans of this size) tune the reading.
    """
    started = time.perf_counter()
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    # The batch's totals (files, counts, errors); its rows go to staging on disk.
    batch = Batch(Clock(now))
    batch.error_counts = Counter()
    batch.rejected = 0
    pseudo = pseudonymiser or Pseudonymiser()
    files = _discover([Path(p) for p in paths], batch)
    batch.error_counts.update(e["code"] for e in batch.errors)
    batch.rejected = len(batch.errors)
    stats: dict[str, MergeStats] = {}
    written_batch = None
    created = not wh.root.exists()
    with wh.lock():  # held from reading to publishing: a second load is refused, not lost
        stage = wh.staging_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        try:
            with _progress(progress) as bar:
                _read(files, batch, stage, pseudo, strict, bar, workers, span_bytes)
                batch.phases = {"read": time.perf_counter() - started}
                fault_point("staged")
                bar.update(bar.task_ids[-1], description="checking references")
                con = open_check(stage, on_disk=batch.nbytes >= POOL_BYTES)
                try:
                    checked = check_staged(
                        con,
                        stage,
                        wh,
                        pseudo,
                        [(str(f.path), f.format) for f in batch.files],
                        batch.identifier_refs,
                        [t for t, n in batch.row_counts.items() if n],
                        max(0, MAX_ERRORS - len(batch.errors)),
                    )
                    batch.errors.extend(checked.errors)
                    batch.error_counts.update(checked.error_counts)
                    batch.rejected += checked.rejected
                    batch.data_quality.update(checked.data_quality)
                    batch.phases["check"] = time.perf_counter() - started - batch.phases["read"]
                    fault_point("checked")
                    if not batch.error_counts:
                        bar.update(bar.task_ids[-1], description="writing")
                        written_batch = _write(con, wh, batch, stats)
                        batch.phases["write"] = (
                            time.perf_counter() - started - sum(batch.phases.values())
                        )
                finally:
                    con.close()
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if created and not wh.exists():  # a first load that failed leaves no folder
                shutil.rmtree(wh.root, ignore_errors=True)
    report = _report(wh, batch, stats, written_batch, time.perf_counter() - started)
    return IngestResult(report["ok"], report, _summary_line(report))


def _read(
    files: list[Path],
    batch: Batch,
    stage: Path,
    pseudo: Pseudonymiser,
    strict: bool,
    bar: Progress,
    workers: int | None,
    span_bytes: int,
) -> None:
    """Read every file into staging, in worker processes when the batch is large enough to
    be worth them, and gather the totals into ``batch``. Files are numbered after any that
    ``_discover`` already reported, in order, so positions and read order are as listed."""
    base = len(batch.files)
    file_nos = {str(path): base + i for i, path in enumerate(files)}
    total = batch.nbytes = sum(_size(f) for f in files)
    reading = bar.add_task("reading", total=total or None)
    cores = len(os.sched_getaffinity(0))
    if workers is None:
        workers = cores if total >= POOL_BYTES else 1
    reader = Reader(stage, batch.clock, pseudo, file_nos, strict)
    tasks = plan_tasks(files, span_bytes)
    results = read_all(tasks, reader, workers, lambda n: bar.update(reading, advance=n))
    claimed: dict[int, SourceFile] = {}
    batch.row_counts = Counter()
    batch.identifier_refs = set()
    for result in results:
        for file_no, (fmt, n) in result.files.items():
            source = claimed.setdefault(file_no, SourceFile(files[file_no - base], fmt))
            source.resources += n
        batch.read_by_type.update(result.read_by_type)
        batch.skipped_types.update(result.skipped_types)
        batch.skipped.update(result.skipped)
        batch.data_quality.update(result.data_quality)
        batch.row_counts.update(result.rows)
        room = MAX_ERRORS - len(batch.errors)
        batch.errors.extend(result.errors[: max(0, room)])
        batch.error_counts.update(result.error_counts)
        batch.rejected += result.rejected
        batch.identifier_refs |= result.identifier_refs
        batch.deletions.extend(result.deletions)
        batch.skipped_files.extend(result.skipped_files)
    # Files the readers never claimed (a bulk export's own files) keep their number, so that
    # positions stay aligned, but are not listed as read.
    batch.files = batch.files[:base] + [
        claimed.get(base + i) or SourceFile(path, RESOURCE) for i, path in enumerate(files)
    ]
    batch.unclaimed = {base + i for i in range(len(files)) if base + i not in claimed}


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
                    and p.name.lower().endswith(SUFFIXES)
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file() and path.name.lower().endswith(SUFFIXES):
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


# A data-quality flag: a DELETE named an id the warehouse does not hold (nothing to remove).
DELETE_NOT_FOUND = "delete_of_unknown_id"


def _write(con, wh: Warehouse, batch: Batch, stats: dict[str, MergeStats]) -> int:
    """Merge every table with incoming rows or deletions, in one transaction, in DuckDB (the
    store publishes single Parquet files per table from the machine that holds the
    warehouse, whatever WRAPAROUND_ENGINE says: docs/spark.md)."""
    summary: dict = {"source": "ingest", "files": len(batch.files)}
    deletions = sorted({(t, rid) for t, rid, _loc in batch.deletions})
    con.register(
        "deletions_arrow",
        pa.table(
            {
                "tbl": pa.array([t for t, _ in deletions], pa.string()),
                "id": pa.array([r for _, r in deletions], pa.string()),
            }
        ),
    )
    con.execute("CREATE OR REPLACE TABLE dels AS SELECT * FROM deletions_arrow")
    delete_tables = {t for t, _ in deletions}
    incoming = {t for t, n in batch.row_counts.items() if n}
    with wh.transaction(summary, held=True) as tx:
        for table in TABLES:
            if table not in incoming and table not in delete_tables:
                continue
            gone = _deleted_ids(table, tx.warehouse) if table in delete_tables else None
            merged, deleted = merge_staged(
                con,
                tx,
                table,
                resolved_sql(table) if table in incoming else None,
                gone,
                incoming_ids=staged_ids_sql(table),
            )
            if table in incoming:
                stats[table] = merged
            if gone is not None:
                asked = sum(1 for t, _ in deletions if t == table)
                if asked > deleted:
                    batch.data_quality[DELETE_NOT_FOUND] += asked - deleted
                summary.setdefault("deleted", {})[table] = deleted
            fault_point("merging")
        summary["tables"] = {t: s.as_dict() for t, s in stats.items()}
        return tx.batch


def _deleted_ids(table: str, warehouse: Warehouse) -> str:
    """SQL of the ids a batch's DELETE entries remove from ``table``. An Observation with
    components was loaded as rows ``<id>-0``, ``<id>-1``, ... (docs/fhir-mapping.md), and its
    DELETE removes those of the current snapshot too. (H1, issue 10.)"""
    ids = f"SELECT id FROM dels WHERE tbl = '{table}'"
    if table == "observations":
        ids += (
            f" UNION SELECT b.id FROM ({current_sql(warehouse, table)}) b"
            " JOIN dels d ON d.tbl = 'observations' AND starts_with(b.id, d.id || '-')"
            " AND regexp_full_match(substr(b.id, length(d.id) + 2), '[0-9]+')"
        )
    return ids


def _report(
    wh: Warehouse,
    batch: Batch,
    stats: dict[str, MergeStats],
    written_batch: int | None,
    seconds: float,
) -> dict:
    errors = batch.errors
    total_errors = sum(batch.error_counts.values())
    listed = [f for i, f in enumerate(batch.files) if i not in batch.unclaimed]
    csv_rows = sum(f.resources for f in listed if f.format == CSV)
    return {
        "ok": not total_errors,
        "warehouse": str(wh.root),
        "batch": written_batch,
        "load_time": batch.clock.now.isoformat(),
        "seconds": round(seconds, 3),
        # Where the time went: reading to staging, checking, writing (benchmarks read it).
        "phase_seconds": {k: round(v, 3) for k, v in getattr(batch, "phases", {}).items()},
        "files": [
            {"file": str(f.path), "format": f.format, "resources": f.resources} for f in listed
        ],
        "resources_read": sum(batch.read_by_type.values()) + csv_rows,
        "by_type": dict(sorted(batch.read_by_type.items())),
        "skipped_types": dict(sorted(batch.skipped_types.items())),
        "skipped": dict(sorted(batch.skipped.items())),
        "data_quality": dict(sorted(batch.data_quality.items())),
        # A bulk export's own files (log, manifest, OperationOutcome errors), not read.
        "skipped_files": batch.skipped_files,
        # DELETE entries read, per table (the write path applies them).
        "deletions": dict(sorted(Counter(t for t, _, _ in batch.deletions).items())),
        "rows": {t: n for t, n in batch.row_counts.items() if n},
        "tables": {t: s.as_dict() for t, s in stats.items()},
        "rejected": batch.rejected,
        "error_counts": dict(sorted(batch.error_counts.items())),
        "errors": errors[:MAX_ERRORS],
        "errors_truncated": max(0, total_errors - MAX_ERRORS),
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
