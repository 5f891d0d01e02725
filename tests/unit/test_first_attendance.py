"""Outpatient first attendances and follow-ups (issue 14: the follow-up to first ratio):
``encounters.first_attendance`` read from an Encounter.type coding (``first`` / ``follow-up``;
absent: null, never guessed; any other code refused), written back the same way by the FHIR
writer (``test_fhir_write.test_encounter_fields``), optional in the CSV format
(``schema.ADDED``), null in older snapshots, and derived by the generator without a random
draw: a follow-up when the patient attended the same specialty within the year before."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from wraparound.sources.csv.read import header_spec
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import Context, extract
from wraparound.sources.ingest_batch import Batch
from wraparound.sources.ingest_values import Clock, Reject
from wraparound.sources.synthetic.events import _first_attendances
from wraparound.warehouse import schema
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

FIRST = [f.name for f in schema.TABLES["encounters"]].index("first_attendance")
INDEX_MODE = [f.name for f in schema.TABLES["encounters"]].index("mode")


def _ctx() -> Context:
    return Context(Batch(Clock(datetime(2026, 1, 1, tzinfo=UTC))), Pseudonymiser(b"k"))


def _outpatient(id_: str, *codes: str) -> dict:
    types = [{"coding": [{"system": m.APPOINTMENT_MODE_SYSTEM, "code": "face_to_face"}]}]
    types += [{"coding": [{"system": m.ATTENDANCE_TYPE_SYSTEM, "code": c}]} for c in codes]
    return {
        "resourceType": "Encounter", "id": id_, "status": "finished", "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p"}, "period": {"start": "2024-01-01T10:00:00Z"},
        "type": types,
    }  # fmt: skip


def test_read_from_the_encounter_type():
    c = _ctx()
    for id_, codes in (("a", ("first",)), ("b", ("follow-up",)), ("c", ())):
        extract(_outpatient(id_, *codes), 0, c)
    rows = c.batch.rows["encounters"]
    assert [r[FIRST] for r in rows] == [True, False, None]
    assert [r[INDEX_MODE] for r in rows] == ["face_to_face"] * 3  # the mode is still read


@pytest.mark.parametrize("bad", ["1", "new", None])
def test_an_unmapped_code_is_refused(bad):
    with pytest.raises(Reject, match="attendance-type"):
        extract(_outpatient("a", bad), 0, _ctx())


def test_optional_in_csv_and_null_in_older_snapshots():
    required, optional = header_spec("encounters")
    assert "first_attendance" in optional and "first_attendance" not in required
    old = schema.TABLES["encounters"]
    old = pa.schema([f for f in old if f.name != "first_attendance"])
    upgraded = schema.upgrade("encounters", old.empty_table())
    assert "first_attendance" in upgraded.column_names


def test_generator_follow_ups_are_repeat_attendances_in_the_same_specialty():
    # patient 0, specialty 130: a missed first (day 10) is rebooked as a first (day 20); a
    # year and more later (day 500) is a new pathway; 5 days after that a follow-up. Another
    # patient, or another specialty, starts its own first.
    idx = np.array([0, 0, 0, 0, 1, 0])
    day = np.array([10, 20, 500, 505, 20, 15])
    specialty = np.array(["130", "130", "130", "130", "130", "110"], dtype=object)
    attended = np.array([False, True, True, True, True, True])
    first = _first_attendances(idx, day, specialty, attended, 365)
    assert first.tolist() == [True, True, True, False, True, True]
    assert _first_attendances(idx[:0], day[:0], specialty[:0], attended[:0], 365).size == 0


def _ratios(warehouse) -> dict[str, float]:
    """Attended follow-ups per attended first attendance: overall and by treatment function."""
    enc = pl.from_arrow(Warehouse(warehouse).read("encounters"))
    op = enc.filter((pl.col("kind") == "outpatient") & (pl.col("status") == "attended"))
    assert op["first_attendance"].null_count() == 0  # the generator says which, always
    by = op.group_by("specialty").agg(
        first=pl.col("first_attendance").sum(), follow=(~pl.col("first_attendance")).sum()
    )
    out = {r["specialty"]: r["follow"] / r["first"] for r in by.iter_rows(named=True)}
    out["all"] = (~op["first_attendance"]).sum() / op["first_attendance"].sum()
    return out


def test_the_synthetic_follow_up_ratio_is_like_englands(small_warehouse):
    """England has about 1.5 to 2 outpatient follow-ups per first attendance, more in
    ophthalmology and rheumatology than in general surgery, ENT or gynaecology; drawing each
    appointment's specialty on its own gave 0.25 (3,000 patients, seed 5). Now each first
    starts a pathway of follow-ups in its specialty (``events._pathways``)."""
    ratio = _ratios(small_warehouse)
    assert 1.3 <= ratio["all"] <= 2.3, ratio["all"]
    for code in ("130", "410"):  # ophthalmology, rheumatology
        assert 1.8 <= ratio[code] <= 4.0, (code, ratio[code])
    for code in ("100", "120", "502"):  # general surgery, ENT, gynaecology
        assert 0.6 <= ratio[code] <= 1.6, (code, ratio[code])
    assert min(ratio["130"], ratio["410"]) > max(ratio["100"], ratio["120"], ratio["502"])
    assert all(0.5 <= r <= 7 for r in ratio.values()), ratio
