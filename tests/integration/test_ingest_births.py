"""Duplicate records in the warehouse: events are judged once, and loaded once.

Real extracts hold duplicate records: two FHIR Patients with one NHS number (so one
pseudonymised ``patient_id``), sometimes with different birth dates; two Organizations with one
ODS code. An event is judged against the earliest birth date known (rejected only if it
precedes every one), an ambulatory Encounter at an ODS code any record calls a practice is a GP
appointment, and neither lookup may pair a row with each record in turn.
"""

from __future__ import annotations

import re

import duckdb
from ingest_data import (
    NHS,
    NOW,
    condition,
    encounter,
    locality,
    organisation,
    patient,
    write_lines,
    write_ndjson,
)

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.store import Warehouse


def _load(path, wh):
    return run_ingest([path], wh, progress=False, now=NOW)


def _rows(wh: Warehouse, table: str, columns: str = "id") -> list[tuple]:
    files = [str(f) for f in wh.table_files(table)]
    return duckdb.sql(f"SELECT {columns} FROM read_parquet({files}) ORDER BY id").fetchall()


def test_two_records_of_one_patient_judge_events_by_the_earliest_birth(tmp_path):
    wh = tmp_path / "wh"
    assert _load(write_ndjson(tmp_path / "first", locality()), wh).ok  # pat-1 born 1950-04-02
    # A second record of pat-1's NHS number, born ten years later, in the warehouse too.
    late = write_lines(tmp_path / "dup.ndjson", [patient("pat-1b", NHS[0], "1960-04-02")])
    assert _load(late, wh).ok
    between = condition("cond-1955", "pat-1", "38341003", "1955-01-01")
    result = _load(write_lines(tmp_path / "between.ndjson", [between]), wh)
    assert result.ok, result.report["errors"]
    assert _rows(Warehouse(wh), "conditions").count(("cond-1955",)) == 1

    before = condition("cond-1949", "pat-1b", "38341003", "1949-01-01")
    result = _load(write_lines(tmp_path / "before.ndjson", [before]), wh)
    assert not result.ok
    assert result.report["error_counts"] == {"impossible_date": 1}
    assert "before the patient's birth date 1950-04-02" in result.report["errors"][0]["reason"]


def test_two_organisations_with_one_ods_code_give_one_row_per_encounter(tmp_path):
    wh = tmp_path / "wh"
    assert _load(write_ndjson(tmp_path / "first", locality()), wh).ok  # org-p1: P81001 practice
    dup = organisation("org-p1-old", "P81001", "trust", name="Riverside (old record)")
    assert _load(write_lines(tmp_path / "dup.ndjson", [dup]), wh).ok
    visit = encounter("enc-amb", "pat-1", "AMB", "2024-05-01T09:00:00Z", org="org-p1")
    result = _load(write_lines(tmp_path / "visit.ndjson", [visit]), wh)
    assert result.ok, result.report["errors"]
    rows = [r for r in _rows(Warehouse(wh), "encounters", "id, kind") if r[0] == "enc-amb"]
    assert rows == [("enc-amb", "gp_appointment")]


def test_judging_in_slices_of_patients_finds_what_one_pass_finds(tmp_path, monkeypatch):
    """The check judges each event table in slices of its patients (a region's are too many
    for one hash table): one patient a slice must report the very errors, and load the very
    rows, that one pass does."""
    from ingest_data import contents

    from wraparound.sources import ingest_check

    bad = [
        *locality(),
        condition("c-early", "pat-1", "38341003", "1949-01-01"),  # before pat-1's birth
        condition("c-early3", "pat-3", "38341003", "1930-01-01"),  # before pat-3's
        condition("c-nobody", "nobody", "38341003", "2020-01-01"),  # dangling
        encounter("e-early", "pat-2", "EMER", "1980-01-01T10:00:00Z"),  # before pat-2's
    ]
    good_dir = write_ndjson(tmp_path / "good", locality())
    bad_dir = write_ndjson(tmp_path / "bad", bad)
    whole = [_load(good_dir, tmp_path / "a"), _load(bad_dir, tmp_path / "b")]
    monkeypatch.setattr(ingest_check, "SLICE_PATIENTS", 1)
    sliced = [_load(good_dir, tmp_path / "c"), _load(bad_dir, tmp_path / "d")]
    assert whole[0].ok and sliced[0].ok
    assert contents(tmp_path / "c") == contents(tmp_path / "a")
    assert not sliced[1].ok
    assert (
        sliced[1].report["error_counts"]
        == whole[1].report["error_counts"]
        == {
            "impossible_date": 3,
            "dangling_reference": 1,
        }
    )
    assert [(e["id"], e["code"]) for e in sliced[1].report["errors"]] == [
        (e["id"], e["code"]) for e in whole[1].report["errors"]
    ]


def _last_conditions_slice(sql: str) -> bool:
    """The statement flagging the last slice of the conditions (of more than one)."""
    sliced = re.search(r"j_conditions_slice\((\d+), (\d+)\)", sql)
    return bool(sliced) and int(sliced[1]) == int(sliced[2]) - 1 > 0


def test_a_check_that_runs_out_of_memory_judges_the_table_again_and_finds_the_same(
    tmp_path, monkeypatch
):
    """``ingest_check._flag``: after DuckDB runs out of memory part way through a table's
    slices, the table is judged again in finer slices on one thread. The slices flagged
    before the failure are not counted twice: the errors are those of a load that never
    failed, and a clean batch still loads."""
    from ingest_data import out_of_memory_when

    from wraparound.sources import ingest_check

    bad = [
        *locality(),
        condition("c-early", "pat-1", "38341003", "1949-01-01"),
        condition("c-early3", "pat-3", "38341003", "1930-01-01"),
        condition("c-nobody", "nobody", "38341003", "2020-01-01"),
    ]
    bad_dir = write_ndjson(tmp_path / "bad", bad)
    good_dir = write_ndjson(tmp_path / "good", locality())
    monkeypatch.setattr(ingest_check, "SLICE_PATIENTS", 1)
    expected = _load(bad_dir, tmp_path / "a").report
    opened = out_of_memory_when(monkeypatch, _last_conditions_slice, times=1)
    got = _load(bad_dir, tmp_path / "b").report
    assert opened[-1].failed == 1
    assert not _load(bad_dir, tmp_path / "b").ok  # the batch is still refused
    assert (
        got["error_counts"]
        == expected["error_counts"]
        == {
            "impossible_date": 2,
            "dangling_reference": 1,
        }
    )
    assert [(e["id"], e["code"]) for e in got["errors"]] == [
        (e["id"], e["code"]) for e in expected["errors"]
    ]
    clean = _load(good_dir, tmp_path / "c")
    assert opened[-1].failed == 1 and clean.ok, clean.report["errors"]
