"""Timeline of a patient on no register: read from the timeline index against the filtered
warehouse query it replaces.

    .venv/bin/python benchmarks/bench_timeline.py [--warehouse var/bench/cost/synth-300000]
        [--patients 200]

Writes the index for the warehouse's current snapshot (as ``wraparound app refresh`` does;
timed), then reads the encounters of a spread of patients both ways, checking that the two
agree. The index read is what the patient page's timeline does for anyone whose contacts are
not copied into the app (``apps/care/timeline.py``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, default=Path("var/bench/cost/synth-300000"))
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()

    from wraparound.apps.cli import setup_django

    setup_django(args.warehouse)
    import pyarrow.parquet as pq

    from wraparound.apps.care import timeline
    from wraparound.apps.care.contacts import contact_rows
    from wraparound.warehouse.engine import connect
    from wraparound.warehouse.store import Warehouse

    warehouse = Warehouse(args.warehouse)
    path = timeline.index_file(warehouse)
    shutil.rmtree(path, ignore_errors=True)  # a folder (care/index_store.py)
    started = time.perf_counter()
    with connect(warehouse) as engine:
        rows = timeline.write_index(engine, warehouse)
    write_s = time.perf_counter() - started
    ids = pq.read_table(warehouse.table_path("patients"), columns=["patient_id"])["patient_id"]
    step = max(1, len(ids) // args.patients)
    sample = ids.to_pylist()[::step][: args.patients]

    index_ms = []
    for pid in sample:
        t = time.perf_counter()
        timeline._from_index(path, pid)
        index_ms.append((time.perf_counter() - t) * 1000)
    engine_ms = []
    with connect(warehouse) as engine:
        for pid in sample[:20]:
            t = time.perf_counter()
            expected = contact_rows(engine, [pid])
            engine_ms.append((time.perf_counter() - t) * 1000)
            got = timeline._from_index(path, pid)
            assert sorted(r["id"] for r in got) == sorted(r["id"] for r in expected), pid

    def summary(ms: list[float]) -> dict:
        ms = sorted(ms)
        return {
            "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "reads": len(ms),
        }

    result = {
        "warehouse": str(args.warehouse),
        "encounters": rows,
        "index_write_s": round(write_s, 1),
        "index_mib": round(sum(p.stat().st_size for p in path.iterdir()) / 2**20, 1),
        "row_group_rows": timeline.INDEX_ROW_GROUP,
        "index_read": summary(index_ms),
        "warehouse_query": summary(engine_ms),
    }
    out = write_results("timeline", result)
    print(
        f"{rows:,} encounters: index written in {write_s:.1f} s ({result['index_mib']} MiB); "
        f"timeline read from the index median {result['index_read']['median_ms']} ms, p95 "
        f"{result['index_read']['p95_ms']} ms; filtered warehouse query median "
        f"{result['warehouse_query']['median_ms']} ms, p95 {result['warehouse_query']['p95_ms']} ms"
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
