"""Benchmark: the overnight run, ``wraparound refresh``, two nights on a locality of N patients.

    .venv/bin/python benchmarks/bench_overnight.py --patients 300000 [--dir var/bench]
    .venv/bin/python benchmarks/bench_overnight.py --warehouse /work/data/w300k [--baseline SRC]

For each locality (``wraparound synth`` builds it, seed 1, or ``--warehouse`` names a ready one,
copied first so the original is never written), in a fresh app database:

1. **first night**: ``wraparound refresh FEED --warehouse DIR``, the app loaded from scratch;
2. **second night**: the same with the next day's feed, the app refreshed incrementally.

Each night's feed is a daily batch of about 1% of the patients' worth of resources (3,000 at
300k, 30,000 at 3M; at least 1,000), made as ``bench_incremental.py`` makes its batch: new A&E
attendances in the last week of the history and one discharge. The first night's ingest also
partitions the large tables (the generator writes each as one file), once, as a warehouse's
first feed does.

Each night runs in a fresh process, as the operator's does. Per stage, the command's own run
report gives the wall time and the peak resident memory of the process in that stage (the
kernel's ``VmHWM``, reset per stage: ``src/wraparound/overnight.py``); from outside, the process
tree's resident memory is sampled every 0.2 s as a cross-check (``peak_tree_rss_mib``).

``--baseline SRC`` (e.g. ``/work/baseline/src``, the code as it was) runs the same two nights
with that code on another copy of the same data, one command per stage (that code has no
``refresh``): ingest, stratify, demand, indicators, local-qof, app refresh. The ratios
(new/old) are in the results; each old stage pays a process start, which the new run pays once.

Writes ``benchmarks/results/overnight.json`` (runs of other sizes measured earlier are kept)
and ``benchmarks/results/overnight.png``, and prints a summary with each stage's growth
exponent across the sizes measured (the slope of log time on log patients).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import RESULTS, run_measured, run_sampled, write_results
from bench_incremental import SYNTH, batch

from wraparound.overnight import STAGES
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

PY = sys.executable
BIN = str(Path(PY).parent / "wraparound")
OLD_CLI = "from wraparound.cli import app; app()"
NIGHTS = ("first", "second")


def feed_size(patients: int) -> int:
    """About 1% of the patients' worth of resources a day, at least 1,000."""
    return max(1000, round(patients / 100))


def count_patients(wh: Path) -> int:
    with connect(wh, engine="duckdb") as engine:
        pats = engine.table("patients")
        return int(engine.to_arrow(pats.aggregate(n=pats.count()))["n"][0].as_py())


def prepare(root: Path, patients: int | None, source: Path | None) -> tuple[Path, dict]:
    """The locality's own warehouse under ``root``: copied from ``source``, else made once."""
    wh = root / "warehouse"
    made: dict = {}
    if source is not None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        shutil.copytree(source, wh, symlinks=True)
        made["source"] = str(source)
    elif not paths.manifest(wh).exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        step = run_measured([PY, "-c", SYNTH, str(wh), str(patients)])
        made["synth"] = {k: v for k, v in step.items() if k != "stdout"}
    return wh, made


def night_new(wh: Path, db: Path, feed: Path, report: Path) -> dict:
    """One night with ``wraparound refresh``: the run report's stages, and the tree's peak."""
    done = run_sampled(
        [BIN, "refresh", str(feed), "--warehouse", str(wh), "--report", str(report), "--quiet"],
        env={"WRAPAROUND_DB": str(db)},
    )
    if not report.exists():
        sys.stderr.write(done["stderr_tail"])
        raise SystemExit("the overnight refresh wrote no report")
    run = json.loads(report.read_text())
    if run["outcome"] != "ok":
        sys.stderr.write(done["stderr_tail"])
        raise SystemExit(f"the overnight refresh failed at {run['failed_stage']}: {run['error']}")
    by = {s["stage"]: s for s in run["stages"]}
    app = (by["app_refresh"].get("details") or {}) if "app_refresh" in by else {}
    return {
        "wall_seconds": done["seconds"],
        "report_seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "peak_tree_rss_mib": done["peak_rss_mib"],
        "memory_method": run["memory_method"],
        "sizes": run["sizes"],
        "app_mode": app.get("mode"),
        "touched_patients": app.get("touched_patients"),
        "app_step_seconds": app.get("step_seconds"),
        "stages": {
            name: {
                "status": s["status"],
                "seconds": s.get("seconds"),
                "peak_rss_mib": s.get("peak_rss_mib"),
                "rss_at_start_mib": s.get("rss_at_start_mib"),
                "children_peak_rss_mib": s.get("children_peak_rss_mib"),
            }
            for name, s in by.items()
        },
    }


def night_old(src: Path, wh: Path, db: Path, feed: Path) -> dict:
    """One night with the code at ``src``, one process per stage (it has no ``refresh``)."""
    env = {"WRAPAROUND_DB": str(db), "PYTHONPATH": str(src)}
    steps = {
        "ingest": ["ingest", str(feed), "--quiet"],
        "stratify": ["stratify"],
        "demand": ["demand", "--quiet"],
        "indicators": ["indicators"],
        "local_qof": ["local-qof"],
        "app_refresh": ["app", "refresh"],  # the old refresh exports the app events too
    }
    # What a process start costs that code (its CLI's imports), paid once per stage.
    start = run_sampled([PY, "-c", OLD_CLI, "--help"], env=env)
    out: dict = {"process_start_seconds": start["seconds"], "stages": {}}
    for name, args in steps.items():
        done = run_sampled([PY, "-c", OLD_CLI, *args, "--warehouse", str(wh)], env=env)
        out["stages"][name] = {
            "ok": done["ok"],
            "seconds": done["seconds"],
            "peak_rss_mib": done["peak_rss_mib"],
        }
        if not done["ok"]:  # the old code's failure is a finding: recorded, the night goes on
            out["stages"][name]["error"] = done["stderr_tail"].strip().splitlines()[-1:]
    out["wall_seconds"] = round(sum(s["seconds"] for s in out["stages"].values()), 2)
    out["peak_rss_mib"] = max(s["peak_rss_mib"] for s in out["stages"].values())
    return out


def measure(root: Path, patients: int | None, source: Path | None, baseline: Path | None) -> dict:
    wh, made = prepare(root, patients, source)
    n = count_patients(wh)
    size = feed_size(n)
    out: dict = {"patients": n, "dir": str(root), "feed_resources": size, **made}
    if baseline is not None:  # the same data for the old code, before the new code writes
        old_wh = root / "warehouse-old"
        shutil.rmtree(old_wh, ignore_errors=True)
        shutil.copytree(wh, old_wh, symlinks=True)
    db = root / "app.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    seed = 2 * Warehouse(wh).manifest.batch + 1
    feeds = {}
    out["nights"] = {}
    for i, night in enumerate(NIGHTS):
        feeds[night] = batch(wh, root / f"feed-{night}", seed + i, size)
        out["nights"][night] = night_new(wh, db, feeds[night], root / f"report-{night}.json")
        print(f"  {n:,} patients, {night} night: {summary_line(out['nights'][night])}", flush=True)
    if baseline is not None:
        old_db = root / "app-old.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{old_db}{suffix}").unlink(missing_ok=True)
        out["baseline"] = {"src": str(baseline), "nights": {}}
        for night in NIGHTS:
            old = night_old(baseline, root / "warehouse-old", old_db, feeds[night])
            new = out["nights"][night]["stages"]
            old["ratio_new_to_old"] = {
                name: round(new[name]["seconds"] / s["seconds"], 3)
                for name, s in old["stages"].items()
                if s["ok"] and new.get(name, {}).get("seconds") and s["seconds"]
            }
            out["baseline"]["nights"][night] = old
            print(
                f"  baseline {night} night: {old['wall_seconds']} s, "
                f"ratios new/old {old['ratio_new_to_old']}",
                flush=True,
            )
    return out


def summary_line(night: dict) -> str:
    parts = [
        f"{name} {s['seconds']:.1f} s/{s['peak_rss_mib']:,.0f} MiB"
        for name, s in night["stages"].items()
        if s["status"] == "ok"
    ]
    return (
        f"{night['report_seconds']:.1f} s, peak {night['peak_rss_mib']:,.0f} MiB "
        f"(tree {night['peak_tree_rss_mib']:,.0f}), app {night['app_mode']}: " + ", ".join(parts)
    )


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(seconds) on log(patients); None with under two sizes."""
    pts = [(math.log(p), math.log(s)) for p, s in points if p > 0 and s and s > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    num = sum((x - mx) * (y - my) for x, y in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return round(num / den, 2)


def growth(runs: list[dict]) -> dict:
    out: dict = {}
    for night in NIGHTS:
        out[night] = {}
        for name in [*STAGES, "total"]:
            pts = []
            for r in runs:
                n = r["nights"][night]
                sec = n["report_seconds"] if name == "total" else n["stages"][name]["seconds"]
                if name == "total" or n["stages"][name]["status"] == "ok":
                    pts.append((r["patients"], sec))
            k = exponent(pts)
            if k is not None:
                out[night][name] = k
    return out


def plot(runs: list[dict], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    xs = [r["patients"] for r in runs]
    for col, night in enumerate(NIGHTS):
        for name in STAGES:
            secs = [r["nights"][night]["stages"][name]["seconds"] for r in runs]
            mems = [r["nights"][night]["stages"][name]["peak_rss_mib"] for r in runs]
            if all(r["nights"][night]["stages"][name]["status"] != "ok" for r in runs):
                continue
            axes[0][col].plot(xs, secs, marker="o", label=name)
            axes[1][col].plot(xs, mems, marker="o", label=name)
        totals = [r["nights"][night]["report_seconds"] for r in runs]
        axes[0][col].plot(xs, totals, marker="s", color="black", linewidth=2, label="total")
        axes[0][col].set_title(f"{night} night: seconds per stage")
        axes[1][col].set_title(f"{night} night: peak RSS per stage (MiB)")
        for row in (0, 1):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("patients")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][col].axhline(600, color="red", linestyle="--", linewidth=1)  # 10 minutes
        axes[1][col].axhline(8192, color="red", linestyle="--", linewidth=1)  # 8 GiB
    axes[0][0].legend(fontsize=8)
    fig.suptitle("wraparound refresh: the overnight run (benchmarks/bench_overnight.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, nargs="*", default=[])
    parser.add_argument(
        "--warehouse", type=Path, nargs="*", default=[], help="Ready warehouses (copied first)."
    )
    parser.add_argument("--dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--baseline", type=Path, default=None, help="Old code's src/ to compare.")
    args = parser.parse_args()
    if not args.patients and not args.warehouse:
        args.patients = [100_000]
    todo = [(f"overnight-{p // 1000}k", p, None) for p in args.patients]
    todo += [(f"overnight-{w.name}", None, w) for w in args.warehouse]
    runs = []
    for name, patients, source in todo:
        run = measure(args.dir / name, patients, source, args.baseline)
        run["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        run["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
        runs.append(run)
    previous = RESULTS / "overnight.json"
    if previous.exists():  # sizes measured earlier are kept (one size per run fits the time)
        kept = json.loads(previous.read_text()).get("runs", [])
        done = {r["patients"] for r in runs}
        runs = [*(r for r in kept if r["patients"] not in done), *runs]
    runs.sort(key=lambda r: r["patients"])
    exponents = growth(runs)
    path = write_results(
        "overnight",
        {
            "command": "benchmarks/bench_overnight.py --patients N | --warehouse DIR",
            "targets": {"seconds_3m": 600, "peak_gib_3m": 8},
            "runs": runs,
            "growth_exponents": exponents,
        },
    )
    png = plot(runs, RESULTS / "overnight.png")
    print("\nThe overnight refresh (wraparound refresh), per size and night:")
    for r in runs:
        for night in NIGHTS:
            n = r["nights"][night]
            print(
                f"  {r['patients']:>9,} {night:<6} {n['report_seconds']:7.1f} s  peak "
                f"{n['peak_rss_mib']:7,.0f} MiB  (feed {r['feed_resources']:,} resources)"
            )
    for night in NIGHTS:
        if exponents[night]:
            shown = ", ".join(f"{k} {v}" for k, v in exponents[night].items())
            print(f"Growth exponents, {night} night: {shown}")
    print(f"-> {path}\n-> {png}")


if __name__ == "__main__":
    main()
