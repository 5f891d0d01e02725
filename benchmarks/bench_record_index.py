"""Medicines and results on the patient page: read from the record index against the
filtered warehouse query of a patient's medications and observations it replaces.

    .venv/bin/python benchmarks/bench_record_index.py [--patients-in-locality 100000]
        [--warehouse DIR] [--patients 200]

Builds the locality with the generator if ``--warehouse`` does not exist yet (seed 1), writes
the record index for the current snapshot (as ``wraparound app refresh`` does; timed), then
reads a spread of patients' records the way the page does (``patient_record``) and, for 20 of
them, the same patients' medications and observations through the engine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).parent))

from _measure import write_results


def _summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "reads": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients-in-locality", type=int, default=100_000)
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()
    n = args.patients_in_locality
    warehouse_dir = args.warehouse or Path(f"var/bench/record/synth-{n}")
    if not warehouse_dir.exists():
        from wraparound.sources.synthetic.writer import write_synthetic

        write_synthetic(warehouse_dir, patients=n, seed=1, progress=False)

    from wraparound.apps.cli import setup_django

    setup_django(warehouse_dir)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wraparound.apps.care import record_index
    from wraparound.warehouse.engine import connect
    from wraparound.warehouse.store import Warehouse

    warehouse = Warehouse(warehouse_dir)
    path = record_index.index_file(warehouse)
    shutil.rmtree(path, ignore_errors=True)  # a folder (care/index_store.py)
    started = time.perf_counter()
    with connect(warehouse) as engine:
        rows = record_index.write_record_index(engine, warehouse)
    write_s = time.perf_counter() - started
    ids = pq.read_table(warehouse.table_path("patients"), columns=["patient_id"])["patient_id"]
    step = max(1, len(ids) // args.patients)
    sample = ids.to_pylist()[::step][: args.patients]

    index_ms = []
    for pid in sample:
        t = time.perf_counter()
        record_index.patient_record(SimpleNamespace(pseudonym=pid))
        index_ms.append((time.perf_counter() - t) * 1000)
    engine_ms = []
    with connect(warehouse) as engine:
        for pid in sample[:20]:
            t = time.perf_counter()
            wanted = engine.memtable(pa.table({"pid": [pid]}))
            for table in ("medications", "observations"):
                t_ = engine.table(table)
                engine.to_arrow(t_.join(wanted, t_.patient_id == wanted.pid))
            engine_ms.append((time.perf_counter() - t) * 1000)

    result = {
        "warehouse": str(warehouse_dir),
        "patients": len(ids),
        "index_rows": rows,
        "index_write_s": round(write_s, 1),
        "index_mib": round(sum(p.stat().st_size for p in path.iterdir()) / 2**20, 1),
        "row_groups": sum(
            pq.ParquetFile(p).metadata.num_row_groups for p in path.glob("*.parquet")
        ),
        "record_read": _summary(index_ms),
        "warehouse_query": _summary(engine_ms),
    }
    out = write_results("record_index", result)
    print(
        f"{len(ids):,} patients: record index of {rows:,} rows written in {write_s:.1f} s "
        f"({result['index_mib']} MiB); page record read median "
        f"{result['record_read']['median_ms']} ms, p95 {result['record_read']['p95_ms']} ms; "
        f"filtered warehouse query median {result['warehouse_query']['median_ms']} ms"
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
