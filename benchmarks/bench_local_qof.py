"""Local QOF for a scheme year: time and peak memory.

    .venv/bin/python benchmarks/bench_local_qof.py [--patients 1000000] [--workdir var/bench]

Target (issue 16): a year of the demo scheme (four lines, every practice, twelve months, the
projection, the claims and the action lists) on a 1M locality in under 60 s, peak memory under
8 GiB. The synthetic warehouse and its risk run (``stratify``: the high-needs and frailty
denominators) are built first if missing (not timed); ``wraparound local-qof`` then runs in a
child process, so the peak RSS is its own. No app events: the app-recorded lines count no one
as met (their denominators, exceptions and action lists are computed in full).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.analytics import results
from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warehouse = args.workdir / f"synth-{args.patients}"
    setup = {}
    if not paths.manifest(warehouse).exists():
        synth = [str(BIN), "synth", "--patients", str(args.patients), "--seed", str(args.seed)]
        setup["synth"] = run_measured([*synth, "--out", str(warehouse), "--overwrite"])
    if results.latest_run(warehouse, paths.RISK) is None:
        setup["stratify"] = run_measured([str(BIN), "stratify", "--warehouse", str(warehouse)])
    claims = args.workdir / f"claims-{args.patients}.csv"
    load_at_start = os.getloadavg()[0]
    m = run_measured(
        [str(BIN), "local-qof", "--warehouse", str(warehouse), "--claims", str(claims)]
    )
    run_dir = results.latest_run(warehouse, "local_qof")
    manifest = json.loads(paths.run_manifest(run_dir).read_text())
    result = {
        "patients": args.patients,
        "seconds": m["seconds"],
        "peak_rss_mib": m["peak_rss_mib"],
        "compute_s": manifest["timings"]["compute_s"],
        "timings": manifest["timings"],
        "load_average_1m_at_start": round(load_at_start, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        # Without cached bytecode every process compiles its imports from source (see
        # bench_evaluation.py).
        "bytecode": {
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
            "PYTHONPYCACHEPREFIX": os.environ.get("PYTHONPYCACHEPREFIX"),
        },
        "months": f"{manifest['periods']['first']} to {manifest['periods']['last']}",
        "row_counts": manifest["row_counts"],
        "output": m["stdout"].strip(),
        "setup_s": {k: v["seconds"] for k, v in setup.items()},
        "targets": {"seconds": 60, "peak_rss_mib": 8 * 1024},
    }
    path = write_results(f"local_qof_{args.patients}", result)
    print(
        f"local QOF, {args.patients:,} patients: {m['seconds']} s wall "
        f"(compute {result['compute_s']} s), peak {m['peak_rss_mib']} MiB; "
        f"{manifest['row_counts']}; written to {path}"
    )


if __name__ == "__main__":
    main()
