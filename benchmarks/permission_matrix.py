"""The size of the permission matrix: roles x views x relationship kinds, allowed and refused.

    .venv/bin/python benchmarks/permission_matrix.py

Not a timing: it runs ``tests/app/test_permissions.py`` (every demo role x every relationship
kind, a booking and a referral whose window ended yesterday, and none, x every patient
view, writes included), which checks each cell against the table in the test, and writes
the counts the run checked to
``benchmarks/results/permission_matrix.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "permission_matrix.json"


def main() -> int:
    env = dict(os.environ, WRAPAROUND_MATRIX_JSON=str(OUT))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/app/test_permissions.py",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env)
    if done.returncode == 0 and OUT.exists():
        print(OUT.read_text())
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
