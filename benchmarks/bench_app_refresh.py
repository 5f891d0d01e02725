"""Benchmark: ``app refresh`` at scale, the code before today (/work/baseline) against now, on
the same data in the same run: the first load of an empty app database, then an incremental
night after a daily feed.

    flock /tmp/wrap-heavy.lock .venv/bin/python benchmarks/bench_app_refresh.py \\
        --warehouse /work/data/w300k [--resources 1000] [--variants old new] [--db sqlite]
    scripts/with-postgres.sh .venv/bin/python benchmarks/bench_app_refresh.py --db postgres ...

For each variant the shared warehouse is copied (hard links: refresh and ingest write new
files, never into existing ones), then, each in a fresh process timed from outside:

1. ``app refresh`` into a new app database (**first load**: patients, contacts, register,
   timeline and record indexes, indicators, letters, alerts, ledger, app events);
2. a feed of ``--resources`` FHIR resources (new A&E attendances and a discharge,
   ``bench_incremental.batch``) ingested by the same variant's code (ingest is workstream H's
   side; its time is reported apart);
3. ``app refresh`` again (**incremental night**).

Both variants get the same feed (same seed, same starting warehouse). The refresh's own
``seconds`` and ``step_seconds`` are taken from its printed summary; the wall time includes
Python's start, Django's setup and migrations. Writes
``benchmarks/results/app_refresh_<db>_<patients>.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results
from bench_incremental import _json, batch

from wraparound.warehouse import paths

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path("/work/baseline/src")
PY = sys.executable
INGEST = (
    "import json, sys; from wraparound.sources.ingest import run_ingest; "
    "r = run_ingest([sys.argv[2]], sys.argv[1], progress=False); "
    "print(json.dumps({k: r.report.get(k) for k in ('ok', 'seconds', 'errors')}, default=str)); "
    "sys.exit(0 if r.ok else 1)"
)
REFRESH = (
    "import sys; from pathlib import Path; from wraparound.apps.cli import refresh; "
    "refresh(Path(sys.argv[1]))"
)


def _env(variant: str, db: str, app_db: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BASELINE if variant == "old" else ROOT / "src")
    env.pop("WRAPAROUND_DB", None)
    if db == "postgres":
        env["DATABASE_URL"] = app_db
    else:
        env.pop("DATABASE_URL", None)
        env["WRAPAROUND_DB"] = app_db
    return env


def _run(args: list[str], env: dict) -> dict:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return run_measured(args)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _postgres_db(name: str) -> str:
    """A fresh database on the server of ``DATABASE_URL``; its URL."""
    import psycopg

    base = os.environ["DATABASE_URL"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def _refresh_figures(step: dict) -> dict:
    summary = _json(step["stdout"])
    return {
        "wall_seconds": step["seconds"],
        "peak_rss_mib": step["peak_rss_mib"],
        "refresh_seconds": summary.get("seconds"),
        "mode": summary.get("mode"),
        "touched_patients": summary.get("touched_patients"),
        "step_seconds": summary.get("step_seconds"),
        "alerts": summary.get("alerts"),
        "timeline_index_patch": summary.get("timeline_index_patch"),
        "record_index_patch": summary.get("record_index_patch"),
    }


def measure(variant: str, source: Path, work: Path, db: str, resources: int, seed: int) -> dict:
    wh = work / f"warehouse-{variant}"
    shutil.rmtree(wh, ignore_errors=True)
    subprocess.run(["cp", "-al", str(source), str(wh)], check=True)
    shutil.rmtree(paths.timeline_index_dir(wh), ignore_errors=True)
    tag = f"{variant}_{source.name}"
    if db == "postgres":
        app_db = _postgres_db(f"bench_{tag}")
    else:
        app_db = str(work / f"app-{tag}.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(app_db + suffix).unlink(missing_ok=True)
    env = _env(variant, db, app_db)
    out: dict = {"variant": variant}
    out["first_load"] = _refresh_figures(_run([PY, "-c", REFRESH, str(wh)], env))
    print(f"  {variant}: first load {out['first_load']['wall_seconds']} s", flush=True)
    feed = batch(wh, work / f"feed-{variant}", seed, n=resources)
    load = _run([PY, "-c", INGEST, str(wh), str(feed)], env)
    report = _json(load["stdout"])
    out["ingest"] = {"wall_seconds": load["seconds"], "report_seconds": report.get("seconds")}
    out["incremental"] = _refresh_figures(_run([PY, "-c", REFRESH, str(wh)], env))
    print(f"  {variant}: incremental night {out['incremental']['wall_seconds']} s", flush=True)
    shutil.rmtree(wh, ignore_errors=True)
    return out


def _ratio(old: float | None, new: float | None) -> float | None:
    return round(old / new, 2) if old and new else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--variants", nargs="+", default=["old", "new"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_app_refresh"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    source = args.warehouse.resolve()
    patients = json.loads(paths.manifest(source).read_text())["batches"][0].get("patients")
    seed = 11
    load_before = os.getloadavg()[0]
    runs = {}
    print(f"{patients:,} patients, {args.db}, feed of {args.resources:,} resources", flush=True)
    for variant in args.variants:
        runs[variant] = measure(variant, source, args.dir, args.db, args.resources, seed)
    result = {
        "command": "benchmarks/bench_app_refresh.py " + " ".join(sys.argv[1:]),
        "patients": patients,
        "db": args.db,
        "resources": args.resources,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "runs": runs,
    }
    if "old" in runs and "new" in runs:
        result["old_over_new"] = {
            stage: {
                key: _ratio(runs["old"][stage][key], runs["new"][stage][key])
                for key in ("wall_seconds", "refresh_seconds")
            }
            for stage in ("first_load", "incremental")
        }
    path = write_results(f"app_refresh_{args.db}_{patients // 1000}k", result)
    for variant, run in runs.items():
        f, i = run["first_load"], run["incremental"]
        print(
            f"{variant}: first load {f['wall_seconds']} s wall ({f['refresh_seconds']} s in "
            f"refresh, {f['peak_rss_mib']} MiB); incremental night {i['wall_seconds']} s wall "
            f"({i['refresh_seconds']} s in refresh, {i['mode']}, "
            f"{i['touched_patients']} patients); ingest {run['ingest']['wall_seconds']} s"
        )
    if "old_over_new" in result:
        print("old / new:", json.dumps(result["old_over_new"]))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
