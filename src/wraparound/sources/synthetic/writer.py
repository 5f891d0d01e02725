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


class OutputExistsError(FileExistsError):
    pass


def oracle_path(out: Path) -> Path:
    """Where the true risks of a synthetic locality are; evaluation code reads them, no
    analytics code does."""
    return Path(out) / ORACLE


def write_synthetic(out: Path, *, patients: int, seed: int, years: int = 3,
                    fmt: str = "warehouse", overwrite: bool = False,
                    progress: bool = True) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ORACLE).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with _progress(progress) as bar:
        task = bar.add_task("synthesising", total=chunk_count(patients))
        chunks = _tee_oracle(generate(patients, seed, years), out / ORACLE, rows,
                             lambda: bar.advance(task))
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
    return {"out": str(out), "format": fmt, "patients": patients, "seed": seed,
            "years": years, "rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def _tee_oracle(chunks: Iterator[PopulationChunk], path: Path, rows: dict,
                tick) -> Iterator[PopulationChunk]:
    writer = None
    try:
        for chunk in chunks:
            if writer is None:
                writer = pq.ParquetWriter(path, chunk.oracle.schema, compression="zstd")
            writer.write_table(chunk.oracle)
            for name, table in chunk.tables.items():
                rows[name] = rows.get(name, 0) + table.num_rows
            yield chunk
            tick()
    finally:
        if writer is not None:
            writer.close()


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled, transient=True)
