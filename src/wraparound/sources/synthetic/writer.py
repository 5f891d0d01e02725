"""``wraparound synth``: write a synthetic locality as a warehouse or as FHIR R4 files, with
the oracle of true risks in its own file beside it (``DIR/oracle/true_risk.parquet``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wraparound.sources.synthetic.generator import chunk_count, generate
from wraparound.sources.synthetic.population import PopulationChunk
from wraparound.warehouse.store import Warehouse

ORACLE = Path("oracle") / "true_risk.parquet"
IDENTITIES = Path("identity") / "patients.parquet"


class OutputExistsError(FileExistsError):
    pass


def identity_path(out: Path) -> Path:
    """The demo's patient index (NHS number, pseudonym, name), standing in for the identity
    feed (PDS, the practice system) a direct-care app reads. Never part of the warehouse."""
    return Path(out) / IDENTITIES


def oracle_path(out: Path) -> Path:
    """Where the true risks of a synthetic locality are; evaluation code reads them, no
    analytics code does."""
    return Path(out) / ORACLE


def write_synthetic(
    out: Path,
    *,
    patients: int,
    seed: int,
    years: int = 3,
    fmt: str = "warehouse",
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ORACLE).parent.mkdir(parents=True, exist_ok=True)
    (out / IDENTITIES).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with _progress(progress) as bar:
        task = bar.add_task("synthesising", total=chunk_count(patients))
        chunks = _tee_side_files(
            generate(patients, seed, years), out, rows, lambda: bar.advance(task)
        )
        if fmt == "warehouse":
            wh = Warehouse(out)
            with wh.transaction({"source": "synthetic", "patients": patients, "seed": seed}) as tx:
                for chunk in chunks:
                    for name, table in chunk.tables.items():
                        tx.append(name, table)
        elif fmt == "fhir":
            from wraparound.sources.fhir.write import write_fhir

            write_fhir(chunks, out, progress=False)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return {
        "out": str(out),
        "format": fmt,
        "patients": patients,
        "seed": seed,
        "years": years,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _tee_side_files(
    chunks: Iterator[PopulationChunk], out: Path, rows: dict, tick
) -> Iterator[PopulationChunk]:
    """Pass chunks through, writing the oracle and identity files on the way."""
    writers: dict[Path, pq.ParquetWriter] = {}

    def write(path: Path, table) -> None:
        if path not in writers:
            writers[path] = pq.ParquetWriter(path, table.schema, compression="zstd")
        writers[path].write_table(table)

    try:
        for chunk in chunks:
            write(out / ORACLE, chunk.oracle)
            write(out / IDENTITIES, chunk.identities)
            for name, table in chunk.tables.items():
                rows[name] = rows.get(name, 0) + table.num_rows
            yield chunk
            tick()
    finally:
        for writer in writers.values():
            writer.close()


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
