"""Synthesis time, peak memory and warehouse size on disk.

    .venv/bin/python benchmarks/bench_synth.py [--patients 100000 1000000] [--workdir var/bench]

Targets (issue 2): 1M patients with 3 years of events in under 5 minutes with peak memory
under 8 GiB. Peak RSS is read from the child process, so each size is measured on its own.
Note that ru_maxrss of children is the maximum over all children so far: sizes run from
smallest to largest, so each figure is that size's own peak.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import dir_size, run_measured, write_results

from wraparound.warehouse import paths

BIN = Path(sys.executable).parent / "wraparound"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for n in sorted(args.patients):
        out = args.workdir / f"synth-{n}"
        m = run_measured(
            [
                str(BIN),
                "synth",
                "--patients",
                str(n),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        report = json.loads(m.pop("stdout"))
        size = dir_size(paths.snapshots(out))
        rows.append(
            {
                "patients": n,
                **m,
                "rows": report["rows"],
                "events": sum(
                    v
                    for k, v in report["rows"].items()
                    if k in ("encounters", "conditions", "observations", "medications")
                ),
                "warehouse_bytes": size,
                "warehouse_mib_per_100k_patients": round(size / 2**20 / (n / 100_000), 1),
            }
        )
        r = rows[-1]
        print(
            f"{n:>9,} patients: {r['seconds']:7.1f} s, peak {r['peak_rss_mib']:7.0f} MiB, "
            f"{r['events']:>11,} events, warehouse {size / 2**20:7.1f} MiB "
            f"({r['warehouse_mib_per_100k_patients']} MiB per 100k)"
        )
    path = write_results(
        "synth", {"runs": rows, "targets": {"1M_seconds": 300, "1M_peak_rss_mib": 8192}}
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
