"""Evaluation of one intervention on three outcomes: time and peak memory.

    .venv/bin/python benchmarks/bench_evaluation.py [--patients 1000000] [--workdir var/bench]

Target (issue 16): on a 1M locality, an evaluation of one intervention on three outcomes
(emergency admissions, A&E attendances, excess bed days: panels through the engine, then
difference-in-differences, interrupted time series and placebo each) under 60 s, peak
memory under 8 GiB. The locality is generated with the demo intervention simulated
(``synth --intervention high_needs_wraparound``) unless it already exists; only
``wraparound evaluate`` is timed, in its own process (peak RSS is that child's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"
INTERVENTION = "high_needs_wraparound"


def _polled(args: list[str]) -> dict:
    """Wall seconds and peak RSS of one command, polled (the synth before it, a child of
    this process too, would otherwise mask its peak in RUSAGE_CHILDREN)."""
    import subprocess
    import time

    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(
                c.memory_info().rss for c in watched.children(recursive=True)
            )
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()}")
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "stdout": out.decode(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = args.workdir / f"evaluation-{args.patients}"
    synth = None
    if not paths.manifest(out).exists():
        synth = run_measured(
            [
                str(BIN),
                "synth",
                "--patients",
                str(args.patients),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
                "--overwrite",
                "--intervention",
                INTERVENTION,
            ]
        )
        synth.pop("stdout")
    load_at_start = os.getloadavg()[0]
    m = _polled(
        [str(BIN), "evaluate", "--warehouse", str(out), "--intervention", INTERVENTION, "--quiet"]
    )
    print(m.pop("stdout"), end="")
    report = json.loads((paths.evaluation(out, INTERVENTION) / "report.json").read_text())
    effects = {
        k: {
            "did_relative": r["did"]["relative"],
            "did_lower": r["did"]["relative_lower"],
            "did_upper": r["did"]["relative_upper"],
            "attributable": r["attributable"],
        }
        for k, r in report["outcomes"].items()
    }
    prevented = json.loads(paths.oracle_intervention_summary(out).read_text())
    result = {
        "patients": args.patients,
        "evaluate": m,
        "synth": synth,
        "outcomes": effects,
        # Inside evaluate() (panels and analyses, the lazy import of differences, pandas and
        # scipy included); the rest of the wall time is the process start.
        "compute_s": report["seconds"],
        "practices": len(report["practices"]),
        "treated_practices": sum(p["treated"] for p in report["practices"]),
        "simulated": prevented,
        "targets": {"seconds": 60, "peak_rss_mib": 8192},
        # The machine is shared: the 1-minute load average before and after the evaluation.
        "load_average_1m_at_start": load_at_start,
        "load_average_1m": os.getloadavg()[0],
        # Without cached bytecode (PYTHONDONTWRITEBYTECODE, as in some sandboxes) every
        # process compiles pandas, scipy, statsmodels and differences from source: seconds
        # of CPU that an installed deployment, with its .pyc files, does not pay.
        "bytecode": {
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
            "PYTHONPYCACHEPREFIX": os.environ.get("PYTHONPYCACHEPREFIX"),
        },
    }
    print(
        f"{args.patients:,} patients: evaluate {m['seconds']:.1f} s, peak {m['peak_rss_mib']:.0f} "
        f"MiB; "
        + "; ".join(
            f"{k} {100 * e['did_relative']:+.1f}% ({100 * e['did_lower']:+.1f}% to "
            f"{100 * e['did_upper']:+.1f}%)"
            for k, e in effects.items()
        )
    )
    path = write_results(f"evaluation_{args.patients}", result)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
