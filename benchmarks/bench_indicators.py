"""All indicators, all practices, 36 months: a full run and the overnight run that reuses
months, against the code as it was (``--baseline``) on the same data in the same run.

    .venv/bin/python benchmarks/bench_indicators.py [--patients 300000 1000000]
        [--from DIR ...] [--workdir /tmp/bench-indicators] [--baseline /work/baseline/src]

For each population: the warehouse (``--from``: a ready one, copied; otherwise built with
``wraparound synth`` and ``stratify``) gets the app's events (every kind for every seventh
patient, so the indicators built on what the app records compute too), then, each step in a
fresh process with its peak memory sampled over its process tree:

1. ``indicators --full`` (the new code, every month): the published run the night reuses;
2. a day's feed (``_indicator_batch.py``: about one resource per 100 patients, dated in the
   data's last week: GP appointments, A&E attendances, readings, diagnoses, a discharge) is
   ingested, and the app's export gains a night's events;
3. ``indicators`` (the overnight run: only the months the feed can change);
4. ``indicators --full`` again on the new warehouse, into another folder, and every published
   table compared with the overnight run's (they must be identical);
5. the baseline code's ``indicators`` on the same warehouse (it computes every month).

The first ingest on a generated warehouse also partitions its large tables (once); its time is
recorded, not counted. Targets (issue 17): under 90 s for 3M patients. Writes
``benchmarks/results/indicators.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import polars as pl
from _indicator_batch import write_app_events, write_batch
from _measure import run_sampled, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
PY = sys.executable
INGEST = (
    "import json, sys; from wraparound.sources.ingest import run_ingest; "
    "r = run_ingest([sys.argv[2]], sys.argv[1], progress=False); "
    "print(json.dumps({k: r.report[k] for k in ('ok', 'seconds', 'tables', 'errors')}, "
    "default=str)); sys.exit(0 if r.ok else 1)"
)


def _step(args: list[str], env: dict | None = None) -> dict:
    m = run_sampled(args, env=env)
    if not m["ok"]:
        sys.stderr.write(m["stdout"] + m["stderr_tail"])
        raise SystemExit(f"benchmark step failed: {' '.join(map(str, args))}")
    return {k: m[k] for k in ("seconds", "peak_rss_mib", "stdout")}


def _manifest(out: Path) -> dict:
    run_id = json.loads((out / paths.LATEST).read_text())["run_id"]
    return json.loads(paths.run_manifest(out / run_id).read_text())


def _summary(step: dict, out: Path) -> dict:
    manifest = _manifest(out)
    step = {k: v for k, v in step.items() if k != "stdout"}
    computed = [d["id"] for d in manifest["definitions"] if d["status"] == "computed"]
    done = manifest.get("months_computed")
    return {
        **step,
        "indicators_computed": len(computed),
        "indicators_awaiting_data": len(manifest["definitions"]) - len(computed),
        "indicator_months_computed": sum(done.values()) if done else None,
        "indicator_months": len(done) * len(manifest["reuse"]["months"]) if done else None,
        "periods": manifest["periods"],
        "values": manifest["row_counts"]["indicator_values"],
        "timings": manifest["timings"],
        "run_id": manifest["run_id"],
    }


def _same(a: Path, b: Path) -> dict:
    """Every published table of two runs, compared exactly (rows in any order)."""
    differ = []
    compared = 0
    for path in sorted(b.rglob("*.parquet")):
        name = str(path.relative_to(b))
        if name.split("/")[0] in ("cells", "inputs"):
            continue
        x, y = pl.read_parquet(a / name), pl.read_parquet(path)
        x, y = x.sort(x.columns, nulls_last=True), y.sort(y.columns, nulls_last=True)
        compared += 1
        if not x.equals(y):
            differ.append(name)
    return {"tables_compared": compared, "identical": not differ, "differ": differ}


def _prepare(source: Path | None, patients: int, warehouse: Path) -> dict:
    shutil.rmtree(warehouse, ignore_errors=True)
    if source is not None:  # a ready warehouse: its snapshots and risk run, not its indicators
        warehouse.mkdir(parents=True)
        shutil.copy2(source / paths.MANIFEST, warehouse / paths.MANIFEST)
        shutil.copytree(paths.snapshots(source), paths.snapshots(warehouse))
        risk = source / "results" / "risk"
        if risk.exists():
            shutil.copytree(risk, warehouse / "results" / "risk")
        return {"source": str(source)}
    for args in (
        ["synth", "--patients", str(patients), "--seed", "42", "--out", str(warehouse)],
        ["stratify", "--warehouse", str(warehouse)],
    ):
        subprocess.run([str(BIN), *args], check=True, capture_output=True)
    return {"source": "synth --seed 42 + stratify"}


def measure(patients: int, source: Path | None, workdir: Path, baseline: Path) -> dict:
    wh = workdir / f"w{patients}"
    result = {"patients": patients, **_prepare(source, patients, wh)}
    result["app_events"] = write_app_events(wh)
    new, verify, old = wh / "ind-new", wh / "ind-full", wh / "ind-old"
    cmd = [str(BIN), "indicators", "--warehouse", str(wh)]
    result["new_full"] = _summary(_step([*cmd, "--out", str(new), "--full"]), new)
    clock = time.perf_counter()
    feed = write_batch(wh, workdir / f"feed-{patients}", max(300, patients // 100), seed=patients)
    loaded = _step([PY, "-c", INGEST, str(wh), str(workdir / f"feed-{patients}")])
    report = json.JSONDecoder().raw_decode(loaded["stdout"][loaded["stdout"].index("{") :])[0]
    result["app_events_after"] = write_app_events(wh, extra=max(20, patients // 1000))
    result["feed"] = {
        **feed,
        "ingest_seconds": loaded["seconds"],
        "tables": report["tables"],
        "prepare_seconds": round(time.perf_counter() - clock, 1),
    }
    result["new_incremental"] = _summary(_step([*cmd, "--out", str(new)]), new)
    result["new_full_after"] = _summary(_step([*cmd, "--out", str(verify), "--full"]), verify)
    result["check"] = _same(
        new / result["new_incremental"]["run_id"], verify / _manifest(verify)["run_id"]
    )
    old_cmd = [PY, "-c", "from wraparound.cli import app; app()", "indicators"]
    old_cmd += ["--warehouse", str(wh), "--out", str(old)]
    step = _step(old_cmd, env={"PYTHONPATH": str(baseline)})
    result["old_full_after"] = _summary(step, old)
    o = result["old_full_after"]["seconds"]
    result["ratios"] = {
        "full_new_over_old": round(result["new_full_after"]["seconds"] / o, 3),
        "incremental_new_over_old": round(result["new_incremental"]["seconds"] / o, 3),
    }
    result["load_average"] = os.getloadavg()
    return result


def _line(r: dict) -> str:
    inc, full, old = r["new_incremental"], r["new_full_after"], r["old_full_after"]
    return (
        f"{r['patients']:,} patients, {inc['indicators_computed']} indicators, "
        f"{r['feed']['resources']:,}-resource feed: old {old['seconds']:.1f} s "
        f"(peak {old['peak_rss_mib']:.0f} MiB); new full {full['seconds']:.1f} s "
        f"(peak {full['peak_rss_mib']:.0f} MiB); overnight {inc['seconds']:.1f} s "
        f"(peak {inc['peak_rss_mib']:.0f} MiB, {inc['indicator_months_computed']} of "
        f"{inc['indicator_months']} indicator-months computed); identical to a full run: "
        f"{r['check']['identical']} ({r['check']['tables_compared']} tables)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        nargs="*",
        default=None,
        help="Ready warehouses to copy, one per --patients (default: build them).",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-indicators"))
    parser.add_argument("--baseline", type=Path, default=Path("/work/baseline/src"))
    args = parser.parse_args()
    sources = args.sources or [None] * len(args.patients)
    runs = []
    for patients, source in zip(args.patients, sources, strict=True):
        r = measure(patients, source, args.workdir, args.baseline)
        runs.append(r)
        print(_line(r), flush=True)
        shutil.rmtree(args.workdir / f"w{patients}", ignore_errors=True)
    path = write_results(
        "indicators",
        {
            "runs": runs,
            "targets": {"3M_overnight_seconds": 90, "peak_rss_mib": 8192},
            "command": " ".join(sys.argv),
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
