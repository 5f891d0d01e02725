"""The before-birth check when the warehouse holds two records of one patient.

Real GP extracts hold duplicate records: two FHIR Patients with one NHS number, so one
pseudonymised ``patient_id``, and sometimes different birth dates. An event is judged against
the earliest birth date known (it is rejected only if it precedes every one), and is loaded once:
the lookup must not pair it with each record in turn.
"""

from __future__ import annotations

import duckdb
from ingest_data import NHS, NOW, condition, locality, patient, write_lines, write_ndjson

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.store import Warehouse


def _load(path, wh):
    return run_ingest([path], wh, progress=False, now=NOW)


def _conditions(wh: Warehouse) -> list[str]:
    files = [str(f) for f in wh.table_files("conditions")]
    rows = duckdb.sql(f"SELECT id FROM read_parquet({files}) ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_two_records_of_one_patient_judge_events_by_the_earliest_birth(tmp_path):
    wh = tmp_path / "wh"
    assert _load(write_ndjson(tmp_path / "first", locality()), wh).ok  # pat-1 born 1950-04-02
    # A second record of pat-1's NHS number, born ten years later, in the warehouse too.
    late = write_lines(tmp_path / "dup.ndjson", [patient("pat-1b", NHS[0], "1960-04-02")])
    assert _load(late, wh).ok
    between = condition("cond-1955", "pat-1", "38341003", "1955-01-01")
    result = _load(write_lines(tmp_path / "between.ndjson", [between]), wh)
    assert result.ok, result.report["errors"]
    assert _conditions(Warehouse(wh)).count("cond-1955") == 1

    before = condition("cond-1949", "pat-1b", "38341003", "1949-01-01")
    result = _load(write_lines(tmp_path / "before.ndjson", [before]), wh)
    assert not result.ok
    assert result.report["error_counts"] == {"impossible_date": 1}
    assert "before the patient's birth date 1950-04-02" in result.report["errors"][0]["reason"]
