"""Outreach cohorts over a 300k-patient locality (issue 14): each cohort of data/outreach/
built into a call list, timed step by step. Target: under 30 s a cohort.

    .venv/bin/python benchmarks/bench_outreach.py [--patients 300000] [--dir var/bench/outreach]
        [--reps 3]

1. Build or reuse the locality in DIR (each step in its own process, skipped when its output
   is already there): ``wraparound synth``, ``wraparound stratify`` (the high-needs cohort
   reads the register), ``wraparound app refresh`` into DIR/app.sqlite3.
2. In this process, ``outreach.build.build`` for every cohort ``--reps`` times (each build
   replaces the previous list, as the command does): wall seconds, and the build's own step
   seconds (warehouse query through the engine, app state, storing the list), with the
   cohort's size. The median of the reps is reported.

Writes benchmarks/results/outreach.json and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
TARGET_S = 30.0


def prepare(directory: Path, patients: int) -> dict:
    warehouse = directory / "warehouse"
    steps = {}
    env_db = {"WRAPAROUND_DB": str(directory / "app.sqlite3")}
    os.environ.update(env_db)
    os.environ.pop("DATABASE_URL", None)
    if not paths.manifest(warehouse).exists():
        steps["synth"] = run_measured(
            [str(BIN), "synth", "--patients", str(patients), "--out", str(warehouse), "--overwrite"]
        )
    if not paths.results_latest(warehouse, paths.RISK).exists():
        steps["stratify"] = run_measured([str(BIN), "stratify", "--warehouse", str(warehouse)])
    if not (directory / "app.sqlite3").exists():
        steps["app_refresh"] = run_measured(
            [str(BIN), "app", "refresh", "--warehouse", str(warehouse)]
        )
    return {
        k: {"seconds": v["seconds"], "peak_rss_mib": v["peak_rss_mib"]} for k, v in steps.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, default=Path("var/bench/outreach"))
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    directory = args.dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    prepared = prepare(directory, args.patients)
    warehouse = directory / "warehouse"

    from wraparound.apps.django_setup import migrate, setup_django

    setup_django(warehouse)
    migrate()
    from wraparound.apps.outreach.build import build
    from wraparound.apps.outreach.cohorts import library
    from wraparound.apps.records.models import Patient

    results = {}
    for cohort_id in library():
        walls, steps, size, found = [], [], 0, 0
        for _ in range(args.reps):
            t = time.perf_counter()
            made = build(cohort_id, warehouse)
            walls.append(time.perf_counter() - t)
            steps.append(made.seconds)
            size, found = made.size, made.found
        results[cohort_id] = {
            "median_s": round(statistics.median(walls), 2),
            "max_s": round(max(walls), 2),
            "runs_s": [round(w, 2) for w in walls],
            "steps_median_s": {
                k: round(statistics.median(s[k] for s in steps), 2) for k in steps[0]
            },
            "found_in_warehouse": found,
            "on_call_list": size,
            "under_target": max(walls) < TARGET_S,
        }
    payload = {
        "patients": args.patients,
        "app_patients": Patient.objects.count(),
        "target_s": TARGET_S,
        "prepared": prepared,
        "reps": args.reps,
        "cohorts": results,
    }
    path = write_results("outreach", payload)
    print(
        f"outreach cohorts over {payload['app_patients']:,} app patients ({args.reps} runs each):"
    )
    for cohort_id, r in results.items():
        print(
            f"  {cohort_id:<30} median {r['median_s']:6.2f} s (max {r['max_s']:.2f}) "
            f"{r['on_call_list']:>7,} on the list; steps {r['steps_median_s']}"
        )
    print(f"written {path}")


if __name__ == "__main__":
    main()
