"""All indicators, all practices, 3 years monthly: time and peak memory.

    .venv/bin/python benchmarks/bench_indicators.py [--patients 1000000] [--workdir var/bench]

Target (issue 5): 1M patients in under 2 minutes on the 2-core machine, peak memory under
8 GiB. The run is ``wraparound indicators`` in a child process (so the peak RSS is its own);
the synthetic warehouse is built first if it is not there (not timed). The indicators that
need app events or a risk run are "awaiting data" here, as on a fresh warehouse.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warehouse = args.workdir / f"synth-{args.patients}"
    if not paths.manifest(warehouse).exists():
        subprocess.run(
            [
                str(BIN),
                "synth",
                "--patients",
                str(args.patients),
                "--seed",
                str(args.seed),
                "--out",
                str(warehouse),
                "--overwrite",
            ],
            check=True,
            capture_output=True,
        )
    out = args.workdir / f"indicators-{args.patients}"
    m = run_measured([str(BIN), "indicators", "--warehouse", str(warehouse), "--out", str(out)])
    m.pop("stdout")
    run_id = json.loads((out / paths.LATEST).read_text())["run_id"]
    manifest = json.loads(paths.run_manifest(out / run_id).read_text())
    computed = [d["id"] for d in manifest["definitions"] if d["status"] == "computed"]
    result = {
        "patients": args.patients,
        **m,
        "indicators_computed": len(computed),
        "indicators_awaiting_data": len(manifest["definitions"]) - len(computed),
        "periods": manifest["periods"],
        "row_counts": manifest["row_counts"],
        "timings": manifest["timings"],
    }
    path = write_results(
        "indicators", {"runs": [result], "targets": {"1M_seconds": 120, "1M_peak_rss_mib": 8192}}
    )
    print(
        f"{args.patients:,} patients: {m['seconds']:.1f} s, peak {m['peak_rss_mib']:.0f} MiB, "
        f"{len(computed)} indicators computed ({result['indicators_awaiting_data']} awaiting "
        f"data), {manifest['row_counts']['indicator_values']:,} values"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
