"""Property: loading any sequence of batches twice gives the warehouse that loading it once
gives, and the newest version of every resource wins whatever order the versions came in."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_data import NHS, NOW, condition, contents, patient, write_lines

from wraparound.sources.ingest import run_ingest

PATIENTS = ["p0", "p1", "p2"]
CONDITIONS = [("c0", "p0"), ("c1", "p0"), ("c2", "p1"), ("c3", "p2")]
VERSIONS = 3
CODES = ["38341003", "44054006", "49436004"]


def stamp(v: int) -> str:
    return f"2025-0{v + 1}-01T00:00:00Z"


def version(rid: str, v: int) -> dict:
    """Version ``v`` of a resource: later versions are newer and differ in content."""
    if rid in PATIENTS:
        return patient(rid, NHS[PATIENTS.index(rid)], f"194{v}-01-01", updated=stamp(v))
    owner = dict(CONDITIONS)[rid]
    return condition(rid, owner, CODES[v], "2015-06-01", updated=stamp(v))


patient_versions = st.fixed_dictionaries({p: st.integers(0, VERSIONS - 1) for p in PATIENTS})
picks = st.lists(
    st.tuples(st.sampled_from([c for c, _ in CONDITIONS] + PATIENTS), st.integers(0, VERSIONS - 1)),
    max_size=6,
)
batches = st.tuples(patient_versions, st.lists(picks, min_size=0, max_size=2))


def load(root: Path, files: list[Path]) -> None:
    for f in files:
        result = run_ingest([f], root, progress=False, now=NOW)
        assert result.ok, result.report["errors"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_loading_twice_equals_loading_once_and_newest_wins(plan):
    first, later = plan
    # The first batch brings every patient, so later batches' references always resolve.
    sequence = [[(p, v) for p, v in first.items()], *later]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = [
            write_lines(tmp / "in" / f"{i}.ndjson", [version(rid, v) for rid, v in batch])
            for i, batch in enumerate(sequence)
        ]
        load(tmp / "once", files)
        load(tmp / "twice", files)
        load(tmp / "twice", files)
        once = contents(tmp / "once")
        assert contents(tmp / "twice") == once

        newest: dict[str, int] = {}
        for batch in sequence:
            for rid, v in batch:
                newest[rid] = max(v, newest.get(rid, -1))
        got = {
            r["id"]: r["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
            for table in ("patients", "conditions")
            for r in once[table]
        }
        assert got == {rid: stamp(v) for rid, v in newest.items()}
        codes = {r["id"]: r["code"] for r in once["conditions"]}
        assert codes == {rid: CODES[v] for rid, v in newest.items() if rid.startswith("c")}
