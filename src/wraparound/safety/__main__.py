"""``python -m wraparound.safety [PATH]``: write the clinical safety case report (default
``docs/clinical-safety-case.md``) from the hazard log, after checking every named test
exists. Exit status 1, with the missing node ids, when one does not."""

from __future__ import annotations

import sys
from pathlib import Path

from wraparound.safety import hazards, report


def main(argv: list[str]) -> int:
    root = Path.cwd()
    out = Path(argv[0]) if argv else root / "docs" / "clinical-safety-case.md"
    log = hazards.load()
    missing = hazards.missing_tests(log, root)
    if missing:
        print("hazard log names tests that do not exist:", *missing, sep="\n  ", file=sys.stderr)
        return 1
    out.write_text(report.render(log, hazards.matrix()), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
