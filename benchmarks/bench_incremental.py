"""Benchmark: a daily feed of 1,000 resources onto a large warehouse, then ``app refresh``.

    .venv/bin/python benchmarks/bench_incremental.py [--patients 100000 300000] [--dir var/bench]

For each population: ``wraparound synth`` builds the warehouse (reused when present), and two
batches of 1,000 FHIR resources are written: 999 new emergency attendances in the last week of
the history for random patients, and one discharge (a newer version of an admission that had
no end). Each step runs in a fresh process, timed from outside:

1. the first batch (``warm_up``): the generator writes every table as one file, so this load
   also partitions the large tables (``store.PARTITIONS``), once;
2. ``app refresh`` into a new app database (``initial_refresh``), as after any first load;
3. the measured batch: ``ingest`` (wall time of the process, and the report's own seconds),
   which periods it rewrote, then ``app refresh`` (alerts for the new hospital events).

The target is under 10 s for step 3 at 300k and flat with the population. Each process pays
Python's start and imports, which the wall times include. Writes
``benchmarks/results/incremental.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _measure import RESULTS, run_measured, write_results

from wraparound.sources.fhir import mapping as m
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

PY = sys.executable
SYNTH = (
    "import sys; from wraparound.sources.synthetic.writer import write_synthetic; "
    "write_synthetic(sys.argv[1], patients=int(sys.argv[2]), seed=1, progress=False)"
)
INGEST = (
    "import json, sys; from wraparound.sources.ingest import run_ingest; "
    "r = run_ingest([sys.argv[2]], sys.argv[1], progress=False); "
    "print(json.dumps({k: r.report[k] for k in ('ok', 'seconds', 'phase_seconds', 'tables', "
    "'errors')}, default=str)); sys.exit(0 if r.ok else 1)"
)
# What ``wraparound app refresh --warehouse DIR`` runs (the command's own function).
REFRESH = (
    "import sys; from pathlib import Path; from wraparound.apps.cli import refresh; "
    "refresh(Path(sys.argv[1]))"
)


def batch(wh: Path, out: Path, seed: int, n: int = 1000) -> Path:
    """999 new A&E attendances and one discharge, as ``<Type>.ndjson``."""
    rng = random.Random(seed)
    with connect(wh, engine="duckdb") as engine:
        pats = engine.table("patients")
        orgs = engine.to_arrow(engine.table("organisations")).to_pylist()
        enc = engine.table("encounters")
        last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0].as_py()
        born = pats.filter(pats.birth_date < (last - timedelta(days=30)).date())
        ids = engine.to_arrow(born.select("id").limit(200_000)).column("id").to_pylist()
        admissions = enc.filter(enc.kind == "emergency_admission")
        candidates = (
            engine.to_arrow(
                admissions.filter(admissions.end.isnull()).order_by("id").limit(10)
            ).to_pylist()
            or engine.to_arrow(admissions.order_by("id").limit(10)).to_pylist()
        )
        open_admission = candidates[seed % len(candidates)]
        owner = engine.to_arrow(
            pats.filter(pats.patient_id == open_admission["patient_id"]).select("id")
        ).column("id")[0]
    trust = next(o for o in orgs if o["kind"] == "trust")
    by_ods = {o["org_id"]: o["id"] for o in orgs}
    stamp = (last + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = []
    for i in range(n - 1):
        start = last - timedelta(minutes=rng.randrange(7 * 24 * 60))
        resources.append(
            {
                "resourceType": "Encounter",
                "id": f"feed-{seed}-{i}",
                "meta": {"lastUpdated": stamp},
                "status": "finished",
                "class": {"system": m.ACT_CODE, "code": "EMER"},
                "subject": {"reference": f"Patient/{rng.choice(ids)}"},
                "period": {
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "serviceProvider": {"reference": f"Organization/{trust['id']}"},
            }
        )
    start = open_admission["start"]
    resources.append(
        {
            "resourceType": "Encounter",
            "id": open_admission["id"],
            "meta": {"lastUpdated": stamp},
            "status": "finished",
            "class": {"system": m.ACT_CODE, "code": "IMP"},
            "priority": {"coding": [{"system": m.ACT_PRIORITY, "code": "EM"}]},
            "subject": {"reference": f"Patient/{owner.as_py()}"},
            "period": {
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": min(start + timedelta(days=3), last).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "serviceProvider": {
                "reference": f"Organization/{by_ods.get(open_admission['org_id'], trust['id'])}"
            },
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "Encounter.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return out


def _json(text: str) -> dict:
    """The JSON object a step printed (after whatever else it printed)."""
    return json.JSONDecoder().raw_decode(text[text.index("{") :])[0]


def files(wh: Path) -> dict[str, int]:
    snap = paths.snapshot(wh, Warehouse(wh).manifest.snapshot)
    return {str(p.relative_to(snap)): p.stat().st_ino for p in snap.rglob("*.parquet")}


def measure(patients: int, root: Path) -> dict:
    d = root / f"inc-{patients // 1000}k"
    wh = d / "warehouse"
    env = {"WRAPAROUND_DB": str(d / "app.sqlite3")}
    os.environ.update(env)
    out: dict = {"patients": patients, "dir": str(d)}
    if not paths.manifest(wh).exists():
        out["synth"] = {
            k: v for k, v in run_measured([PY, "-c", SYNTH, str(wh), str(patients)]).items()
            if k != "stdout"
        }  # fmt: skip
    (d / "app.sqlite3").unlink(missing_ok=True)
    # Seeds from the warehouse's batch number, so a rerun on a kept warehouse loads new
    # resources (fixed seeds would reload the same ones: all unchanged but the discharge).
    seed = 2 * Warehouse(wh).manifest.batch + 1
    warm = run_measured([PY, "-c", INGEST, str(wh), str(batch(wh, d / "batch-1", seed))])
    out["warm_up"] = {"wall_seconds": warm["seconds"], **_json(warm["stdout"])}
    first = run_measured([PY, "-c", REFRESH, str(wh)])
    out["initial_refresh"] = {
        "wall_seconds": first["seconds"],
        "peak_rss_mib": first["peak_rss_mib"],
    }
    before = files(wh)
    feed = batch(wh, d / "batch-2", seed + 1)
    load = run_measured([PY, "-c", INGEST, str(wh), str(feed)])
    report = _json(load["stdout"])
    after = files(wh)
    rewritten = sorted(k for k, ino in after.items() if before.get(k) != ino)
    refresh = run_measured([PY, "-c", REFRESH, str(wh)])
    summary = _json(refresh["stdout"])
    out["batch"] = {
        "resources": 1000,
        "ingest_wall_seconds": load["seconds"],
        "ingest_report_seconds": report["seconds"],
        "phase_seconds": report["phase_seconds"],
        "tables": report["tables"],
        "files_rewritten": rewritten,
        "files_hard_linked": len(after) - len(rewritten),
        "refresh_wall_seconds": refresh["seconds"],
        "refresh_seconds": summary.get("seconds"),
        "refresh_mode": summary.get("mode"),  # incremental after a batch (apps/refresh.py)
        "refresh_touched_patients": summary.get("touched_patients"),
        "refresh_step_seconds": summary.get("step_seconds"),
        "alerts": summary.get("alerts"),
        "total_wall_seconds": round(load["seconds"] + refresh["seconds"], 2),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--dir", type=Path, default=Path("var/bench"))
    args = parser.parse_args()
    runs = []
    for patients in args.patients:
        run = measure(patients, args.dir)
        runs.append(run)
        b = run["batch"]
        print(
            f"{patients:,} patients: 1,000 resources ingested in {b['ingest_wall_seconds']} s "
            f"(report {b['ingest_report_seconds']} s; {len(b['files_rewritten'])} files "
            f"rewritten, {b['files_hard_linked']} hard-linked), app refresh "
            f"{b['refresh_wall_seconds']} s: total {b['total_wall_seconds']} s (target < 10 s)"
        )
    # Runs of other populations measured earlier are kept (one population per invocation
    # fits the ten minutes a benchmark may take here).
    previous = RESULTS / "incremental.json"
    if previous.exists():
        kept = json.loads(previous.read_text()).get("runs", [])
        done = {r["patients"] for r in runs}
        runs = sorted([*(r for r in kept if r["patients"] not in done), *runs],
                      key=lambda r: r["patients"])  # fmt: skip
    for run in runs:
        run.setdefault("measured_at", datetime.now(UTC).isoformat(timespec="seconds"))
        run.setdefault("load_average_1m_at_end", round(os.getloadavg()[0], 2))
    path = write_results(
        "incremental",
        {
            "command": "benchmarks/bench_incremental.py --patients N (one population per run)",
            "target_seconds": 10,
            "runs": runs,
        },
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
