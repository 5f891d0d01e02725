"""Benchmark: what a daily feed of 1,000 resources costs ingest, against the warehouse's size.

    .venv/bin/python benchmarks/bench_ingest_feed.py --from /work/data/w300k [--from ...]
        [--work DIR] [--repeat 3] [--baseline /work/baseline/src]

For each warehouse named by ``--from`` (copied first: the source is never written), the
same batches as ``bench_incremental.py`` (999 new emergency attendances in the last week of
the history and one discharge, ``<Type>.ndjson``) are loaded by ``wraparound ingest`` in a
fresh process each:

1. a warm-up batch: a generated warehouse holds each table as one file, so this load also
   partitions the large tables (``store.PARTITIONS``), once;
2. ``--repeat`` measured batches: the wall time of the process (Python's start and imports
   included), the report's own seconds and phases, and which files of the snapshot were
   written anew (by inode; every other file is a hard link to the previous snapshot's) and
   their bytes, against the bytes of the whole snapshot.

With ``--baseline SRC`` the same batches are loaded into a second copy by the code in
``SRC`` (``PYTHONPATH=SRC``, e.g. ``/work/baseline/src``: the tree before a change), in the
same run, so every figure has an old-against-new ratio. This covers ingest up to the
published snapshot; ``bench_incremental.py`` adds ``app refresh`` after it (docs/app.md).
Writes ``benchmarks/results/ingest_feed.json`` and prints a summary. Run it under
``flock /tmp/wrap-heavy.lock`` on a shared machine (copies of 1M-patient warehouses).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import RESULTS, machine, run_measured
from bench_incremental import INGEST, batch

from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

PY = sys.executable


def snapshot_files(wh: Path) -> dict[str, tuple[int, int]]:
    """Each Parquet file of the current snapshot: (inode, bytes)."""
    snap = paths.snapshot(wh, Warehouse(wh).manifest.snapshot)
    return {
        str(p.relative_to(snap)): (p.stat().st_ino, p.stat().st_size)
        for p in snap.rglob("*.parquet")
    }


def load(wh: Path, feed: Path, src: str | None) -> dict:
    """One ingest of ``feed`` in a fresh process (``src``: PYTHONPATH for the code to run)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    before = snapshot_files(wh)
    run = run_measured_env([PY, "-c", INGEST, str(wh), str(feed)], env)
    report = json.JSONDecoder().raw_decode(run["stdout"][run["stdout"].index("{") :])[0]
    after = snapshot_files(wh)
    rewritten = sorted(k for k, (ino, _) in after.items() if before.get(k, (None,))[0] != ino)
    return {
        "wall_seconds": run["seconds"],
        "report_seconds": report["seconds"],
        "phase_seconds": report.get("phase_seconds"),
        "tables": report["tables"],
        "files_rewritten": rewritten,
        "bytes_rewritten": sum(after[k][1] for k in rewritten),
        "files_hard_linked": len(after) - len(rewritten),
        "snapshot_bytes": sum(size for _, size in after.values()),
    }


def run_measured_env(args: list[str], env: dict) -> dict:
    """``_measure.run_measured`` with an environment (the baseline's PYTHONPATH)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return run_measured(args)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(source: Path, work: Path, repeat: int, baseline: str | None) -> dict:
    out: dict = {"source": str(source), "snapshot_batch": Warehouse(source).manifest.batch}
    trees = {"new": None, **({"baseline": baseline} if baseline else {})}
    for label, src in trees.items():
        wh = work / source.name / label / "warehouse"
        shutil.rmtree(wh.parent, ignore_errors=True)
        wh.parent.mkdir(parents=True)
        shutil.copytree(source, wh)
        seed = 101  # the same batches for both trees
        runs = []
        warm = load(wh, batch(wh, wh.parent / "batch-0", seed), src)
        for i in range(1, repeat + 1):
            runs.append(load(wh, batch(wh, wh.parent / f"batch-{i}", seed + i), src))
        walls = [r["wall_seconds"] for r in runs]
        out[label] = {
            "warm_up": warm,
            "batches": runs,
            "median_wall_seconds": round(statistics.median(walls), 2),
            "median_report_seconds": round(statistics.median(r["report_seconds"] for r in runs), 3),
        }
        shutil.rmtree(wh.parent, ignore_errors=True)
    with connect(Warehouse(source), engine="duckdb") as engine:
        t = engine.table("patients")
        out["patients"] = int(engine.to_arrow(t.aggregate(n=t.count())).column("n")[0].as_py())
        e = engine.table("encounters")
        out["encounters"] = int(engine.to_arrow(e.aggregate(n=e.count())).column("n")[0].as_py())
    if baseline:
        out["ratio_new_to_baseline_wall"] = round(
            out["new"]["median_wall_seconds"] / out["baseline"]["median_wall_seconds"], 3
        )
        out["ratio_new_to_baseline_report"] = round(
            out["new"]["median_report_seconds"] / out["baseline"]["median_report_seconds"], 3
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="sources", type=Path, nargs="+", action="extend",
                        required=True, help="warehouse(s) to copy and feed")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("var/bench/feed"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="PYTHONPATH of the code to compare against")
    parser.add_argument("--results", type=Path, default=RESULTS / "ingest_feed.json")
    args = parser.parse_args()
    runs = []
    for source in args.sources:
        run = measure(source, args.work, args.repeat, args.baseline)
        run["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
        run["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        runs.append(run)
        new = run["new"]
        last = new["batches"][-1]
        line = (
            f"{run['patients']:,} patients ({run['encounters']:,} encounters): 1,000 resources "
            f"ingested in {new['median_wall_seconds']} s median wall "
            f"({new['median_report_seconds']} s in the load itself), "
            f"{len(last['files_rewritten'])} files rewritten ({last['bytes_rewritten']:,} of "
            f"{last['snapshot_bytes']:,} bytes), {last['files_hard_linked']} hard-linked"
        )
        if args.baseline:
            line += (
                f"; baseline {run['baseline']['median_wall_seconds']} s: new/baseline "
                f"{run['ratio_new_to_baseline_wall']} (wall)"
            )
        print(line)
    previous = args.results
    if previous.exists():  # runs of other warehouses measured earlier are kept
        kept = json.loads(previous.read_text()).get("runs", [])
        done = {r["source"] for r in runs}
        runs = [*(r for r in kept if r["source"] not in done), *runs]
    runs.sort(key=lambda r: r.get("patients", 0))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(),
        "command": "benchmarks/bench_ingest_feed.py " + " ".join(sys.argv[1:]),
        "target_seconds": 10,
        "runs": runs,
    }
    args.results.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"-> {args.results}")


if __name__ == "__main__":
    main()
