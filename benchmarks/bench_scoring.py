"""Risk scoring at scale: the bounded model and reasons only where they are read, against
today's model (the code at ``--baseline``) on the same data.

    # before/after on one warehouse (copied first: stratify publishes into it)
    .venv/bin/python benchmarks/bench_scoring.py --warehouse /work/data/w300k \\
        [--baseline /work/baseline/src] [--workdir /tmp/bench-scoring] [--new-only]
    # the learning rate / tree cap / training sample grid on the held-out year
    .venv/bin/python benchmarks/bench_scoring.py --warehouse /work/data/w1m --sweep

Each ``--warehouse`` run adds (or replaces) its size in ``benchmarks/results/scoring.json``
(the sweep in ``scoring_sweep.json``), so the sizes can be run one at a time, each short.
Before and after are two ``wraparound stratify`` processes on the same copy (old code by
``PYTHONPATH``), each with its memory sampled over its whole process tree: AUROC and
calibration slope on the held-out year, trees in the validated and deployed models,
patients given reasons, and every stage's time. Targets (issue #17): AUROC no more than
0.002 below today's at 300k and 1M; scoring for 3M under 60 s; stratify at 3M about 4 min.

The sweep reads the cohorts once and trains the validated model (training year) for each
setting, evaluating it on the held-out year, as ``data/risk.toml``'s choice was made.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import RESULTS, machine, run_sampled, write_results

ROOT = Path(__file__).resolve().parents[1]
TREE = re.compile(rb"^Tree=", re.M)


def copy_of(warehouse: Path, workdir: Path) -> Path:
    """A private copy of ``warehouse`` with no earlier risk runs in it."""
    out = workdir / warehouse.name
    if out.exists():
        shutil.rmtree(out)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(warehouse, out, ignore=shutil.ignore_patterns("risk"))
    return out


def trees(path: Path) -> int:
    return len(TREE.findall(path.read_bytes())) if path.exists() else 0


def _report(stdout: str) -> dict:
    """The ``--json`` report in a stratify's stdout. At 1M the old code printed more than the
    report there (json.loads stopped with "Extra data: line 2 column 4"; the output was not
    kept, so what it was is not known), so the report is the JSON object that starts a line,
    read on its own."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{") + 1
    if start == 0 and not stdout.startswith("{"):
        raise SystemExit(f"no JSON report in the stratify output: {stdout[:300]!r}")
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def stratify(warehouse: Path, pythonpath: str | None) -> dict:
    """One stratify run in its own process: its report, trees and time."""
    cmd = [sys.executable, "-c", "from wraparound.cli import app; app()"]
    env = {"PYTHONPATH": pythonpath} if pythonpath else {"PYTHONPATH": str(ROOT / "src")}
    m = run_sampled([*cmd, "stratify", "--warehouse", str(warehouse), "--json"], env=env)
    if not m["ok"]:
        sys.stderr.write(m["stderr_tail"])
        raise SystemExit(f"stratify failed on {warehouse} (PYTHONPATH={env['PYTHONPATH']})")
    report = _report(m["stdout"])
    run_dir = warehouse / "results" / "risk" / report["run_id"]
    t = report["timings"]
    return {
        "seconds_total": m["seconds"],
        "peak_rss_mib": m["peak_rss_mib"],
        "timings": t,
        "features_s": round(t["training_features_s"] + t["current_features_s"], 2),
        "training_s": t["training_s"],
        "scoring_s": t["scoring_s"],
        "auroc": round(report["auroc"], 5),
        "calibration_slope": round(report["calibration_slope"], 4),
        "calibration_intercept": round(report["calibration_intercept"], 4),
        "trees_validated": trees(run_dir / "model_validated.txt"),
        "trees_deployed": trees(run_dir / "model.txt"),
        "training_rows": report["training_rows"],
        "scored": sum(report["streams"].values()),
        "reasons": report.get("reasons"),
        "model_version": report["model_version"],
    }


def compare(args) -> None:
    copy = copy_of(args.warehouse, args.workdir)
    row = {"warehouse": str(args.warehouse), "load_average_before": os.getloadavg()}
    if not args.new_only:
        row["before"] = stratify(copy, str(args.baseline))
    row["after"] = stratify(copy, None)
    row["load_average_after"] = os.getloadavg()
    if "before" in row:
        b, a = row["before"], row["after"]
        row["auroc_change"] = round(a["auroc"] - b["auroc"], 5)
        row["scoring_speedup"] = round(b["scoring_s"] / a["scoring_s"], 1)
        row["stratify_speedup"] = round(b["seconds_total"] / a["seconds_total"], 2)
    shutil.rmtree(copy)
    path = RESULTS / "scoring.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    runs = payload.get("runs", {})
    runs[args.warehouse.name] = row
    payload = {
        "runs": runs,
        "targets": {"auroc_drop_max": 0.002, "scoring_3m_s": 60, "stratify_3m_s": 240},
    }
    print(f"results: {write_results('scoring', payload)}")
    for label in ("before", "after"):
        if label not in row:
            continue
        r = row[label]
        given = r["reasons"]["patients"] if r.get("reasons") else r["scored"]
        print(
            f"{args.warehouse.name} {label:>6}: total {r['seconds_total']:6.1f} s  features "
            f"{r['features_s']:5.1f}  training {r['training_s']:6.1f}  scoring "
            f"{r['scoring_s']:6.1f} s  AUROC {r['auroc']:.4f}  slope "
            f"{r['calibration_slope']:.3f}  trees {r['trees_validated']}/{r['trees_deployed']}"
            f"  reasons for {given:,}  peak {r['peak_rss_mib']:,.0f} MiB"
        )
    if "auroc_change" in row:
        print(
            f"AUROC change {row['auroc_change']:+.4f} (limit -0.002); scoring "
            f"{row['scoring_speedup']}x faster, stratify {row['stratify_speedup']}x"
        )


def sweep(args) -> None:
    """Learning rate x tree cap (x training sample) for the validated model."""
    from wraparound.analytics import stratify as st
    from wraparound.analytics.features import model_features
    from wraparound.analytics.risk import metrics
    from wraparound.analytics.risk.config import ModelConfig
    from wraparound.analytics.risk.model import train

    copy = copy_of(args.warehouse, args.workdir)
    cohorts = st.read_cohorts(copy, None, st.Phases())
    names = model_features()
    x_tr, y_tr = st._xy(cohorts.train, names)
    x_va, y_va = st._xy(cohorts.valid, names)
    grid = [(0.1, 2000, None)]  # today's model
    grid += [(lr, cap, None) for lr in args.rates for cap in args.caps]
    grid += [(0.1, args.caps[-1], n) for n in args.samples if n < y_tr.size]
    rows = []
    for lr, cap, sample in grid:
        config = ModelConfig(learning_rate=lr, max_trees=cap, max_training_rows=sample)
        started = time.perf_counter()
        model = train(x_tr, y_tr, names, seed=42, config=config)
        seconds = time.perf_counter() - started
        p = model.predict(x_va)
        ev = metrics.evaluate(y_va, p)
        started = time.perf_counter()
        model.contributions(x_va[:50_000])
        shap_s = time.perf_counter() - started
        rows.append(
            {
                "learning_rate": lr,
                "max_trees": cap,
                "max_training_rows": sample,
                "trees": model.best_iteration,
                "auroc": round(ev["auroc"], 5),
                "calibration_slope": round(ev["calibration_slope"], 4),
                "train_s": round(seconds, 1),
                "shap_50k_s": round(shap_s, 2),
            }
        )
        r = rows[-1]
        print(
            f"lr {lr:<5} cap {cap:>5} sample {sample or 'all':>8}: trees {r['trees']:>4} "
            f"AUROC {r['auroc']:.4f} ({r['auroc'] - rows[0]['auroc']:+.4f}) slope "
            f"{r['calibration_slope']:.3f}  train {seconds:5.1f} s  SHAP 50k {shap_s:.2f} s",
            flush=True,
        )
    shutil.rmtree(copy)
    path = RESULTS / "scoring_sweep.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    payload.pop("machine", None)
    payload[args.warehouse.name] = {
        "training_rows": int(y_tr.size),
        "held_out_rows": int(y_va.size),
        "load_average": os.getloadavg(),
        "grid": rows,
    }
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, default=Path("/work/baseline/src"))
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-scoring"))
    parser.add_argument("--new-only", action="store_true", help="Skip the old code's run.")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.15, 0.2])
    parser.add_argument("--caps", type=int, nargs="+", default=[150, 250])
    parser.add_argument("--samples", type=int, nargs="+", default=[500_000])
    args = parser.parse_args()
    sweep(args) if args.sweep else compare(args)


if __name__ == "__main__":
    main()
