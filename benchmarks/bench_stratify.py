"""Risk stratification: time and peak memory from 100k to 1M patients, and model quality on
a 300k locality against the oracle and the baselines.

    .venv/bin/python benchmarks/bench_stratify.py [--patients 100000 300000 1000000]
        [--workdir var/bench] [--no-ceiling]

Each size runs ``wraparound stratify`` in its own process (so peak RSS is that run's own);
the run records its phase timings in metrics.json: features at the three index dates,
training (validated model, baselines, refit), and scoring (scores, SHAP reasons, streams).
Localities are synthesised with seed 1 into ``WORKDIR/synth-N`` unless already there.

Targets (issue): features and scores for 1M under 2 minutes; training on up to 1M rows
under 5 minutes; peak memory under 8 GiB. Quality (300k): AUROC within 0.02 of the oracle,
above every baseline, calibration slope 0.9-1.1.

The ceiling: the oracle's true risk includes each patient's unobserved Gamma propensity U,
which no record shows. The ceiling section (skip with ``--no-ceiling``) re-simulates the
generator's own hazard model and scores the true hazard with U at its mean (true conditions,
frailty, previous admissions): how much the unmeasured part alone costs. A model of the
record can beat it a little, since past use reveals some of U.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
QUALITY_SIZE = 300_000


def ensure_locality(workdir: Path, n: int) -> Path:
    out = workdir / f"synth-{n}"
    if not paths.manifest(out).exists():
        run_measured(
            [
                str(BIN),
                "synth",
                "--patients",
                str(n),
                "--seed",
                "1",
                "--out",
                str(out),
                "--overwrite",
            ]
        )
    return out


def ceiling(n: int = 300_000) -> dict:
    """AUROC of the true risk and of the best risk without U, on the generator's model."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from wraparound.sources.synthetic.generator import frame_for
    from wraparound.sources.synthetic.params import parameters
    from wraparound.sources.synthetic.people import (
        calibrate,
        draw_ages,
        draw_conditions,
        draw_frailty,
        draw_medicines,
        new_people,
        simulate_years,
    )

    frame = frame_for(3)
    cal = calibrate(frame.end, 3)
    rng = np.random.default_rng(7)
    age, female = draw_ages(n, rng)
    people = new_people(age, female, rng.integers(1, 11, n), frame, rng)
    draw_conditions(people, frame, rng, cal.intercepts)
    draw_frailty(people, frame, rng)
    draw_medicines(people, frame, rng)
    years = simulate_years(people, frame, rng, cal.admission_curve)
    shape = parameters()["hazard"]["propensity_shape"]
    year = years[3]  # the validation year (index 2025-04-01)
    alive = year.alive
    admitted = (year.admissions > 0)[alive]
    total = year.lam_known + year.mu
    without_u = (year.lam_known / total * -np.expm1(-total))[alive]
    return {
        "patients_simulated": n,
        "propensity_shape": shape,
        "oracle_auroc": round(float(roc_auc_score(admitted, year.true_risk[alive])), 4),
        "auroc_with_propensity_at_its_mean": round(float(roc_auc_score(admitted, without_u)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--no-ceiling", action="store_true")
    args = parser.parse_args()
    runs, quality = [], None
    for n in sorted(args.patients):
        warehouse = ensure_locality(args.workdir, n)
        m = run_measured([str(BIN), "stratify", "--warehouse", str(warehouse), "--json"])
        report = json.loads(m.pop("stdout"))
        t = report["timings"]
        row = {
            "patients": n,
            "seconds_total": m["seconds"],
            "peak_rss_mib": m["peak_rss_mib"],
            "features_and_scores_s": round(
                t["current_features_s"] + t["scoring_s"] + t["publish_s"], 1
            ),
            "training_s": t["training_s"],
            "training_rows": report["training_rows"],
            "timings": t,
            "auroc": round(report["auroc"], 4),
            "oracle_auroc": report["oracle_auroc"] and round(report["oracle_auroc"], 4),
        }
        runs.append(row)
        print(
            f"{n:>9,} patients: total {m['seconds']:6.1f} s, features+scores "
            f"{row['features_and_scores_s']:6.1f} s, training {t['training_s']:6.1f} s "
            f"({row['training_rows']:,} rows), peak {m['peak_rss_mib']:7.0f} MiB, "
            f"AUROC {row['auroc']}"
        )
        if n == QUALITY_SIZE:
            quality = {
                k: report[k]
                for k in (
                    "n",
                    "events",
                    "auroc",
                    "auprc",
                    "brier",
                    "calibration_slope",
                    "calibration_intercept",
                    "oracle_auroc",
                    "ppv_top",
                    "sensitivity_top",
                )
            }
            quality["oracle_gap"] = report["oracle_auroc"] - report["auroc"]
            quality["baselines"] = {
                k: {
                    "auroc": v["auroc"],
                    "auprc": v["auprc"],
                    "calibration_slope": v["calibration_slope"],
                }
                for k, v in report["baselines"].items()
            }
    payload = {
        "runs": runs,
        "quality_300k": quality,
        "targets": {
            "1M_features_and_scores_s": 120,
            "1M_training_s": 300,
            "peak_rss_mib": 8192,
            "oracle_gap": 0.02,
            "calibration_slope": [0.9, 1.1],
        },
    }
    if not args.no_ceiling:
        payload["ceiling"] = ceiling()
        print(
            f"ceiling: oracle {payload['ceiling']['oracle_auroc']}, true hazard with the "
            f"unmeasured propensity at its mean "
            f"{payload['ceiling']['auroc_with_propensity_at_its_mean']}"
        )
    if quality:
        print(
            f"300k: AUROC {quality['auroc']:.4f}, oracle {quality['oracle_auroc']:.4f} "
            f"(gap {quality['oracle_gap']:.4f}), slope {quality['calibration_slope']:.3f}, "
            "baselines "
            + ", ".join(f"{k} {v['auroc']:.4f}" for k, v in quality["baselines"].items())
        )
    print(f"results: {write_results('stratify', payload)}")


if __name__ == "__main__":
    main()
