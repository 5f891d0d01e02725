"""What R4 structural validation (``wraparound ingest --strict``) costs on the synthetic export.

    .venv/bin/python benchmarks/bench_ingest_strict.py [--patients 2000] [--rounds 2]

Writes ``synth --format fhir`` for the population once, then loads it into a fresh warehouse
with and without ``--strict``, alternating, ``--rounds`` times each (the median is reported).
Without ``--strict`` the R4 models (fhirclient) are used only on rejected resources, so on a
clean export this measures the price of validating every resource. Results go to
``benchmarks/results/ingest_strict.json``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import write_results

from wraparound.sources.ingest import run_ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-strict-"))
    try:
        export = work / "fhir"
        binary = str(Path(sys.executable).parent / "wraparound")
        subprocess.run(
            [binary, "synth", "--patients", str(args.patients), "--format", "fhir",
             "--out", str(export)],
            check=True, capture_output=True,
        )  # fmt: skip
        files = sorted(export.glob("*.ndjson"))
        seconds: dict[str, list[float]] = {"default": [], "strict": []}
        resources = 0
        for _ in range(args.rounds):
            for mode in ("default", "strict"):
                wh = work / f"wh-{mode}"
                shutil.rmtree(wh, ignore_errors=True)
                started = time.perf_counter()
                result = run_ingest(files, wh, progress=False, strict=mode == "strict")
                seconds[mode].append(round(time.perf_counter() - started, 3))
                assert result.ok, result.report["errors"][:3]
                resources = result.report["resources_read"]
        median = {m: statistics.median(s) for m, s in seconds.items()}
        payload = {
            "patients": args.patients,
            "resources": resources,
            "seconds": seconds,
            "median_seconds": median,
            "resources_per_second": {m: round(resources / s) for m, s in median.items()},
            "strict_over_default": round(median["strict"] / median["default"], 2),
        }
        print(write_results("ingest_strict", payload))
        print(payload)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
