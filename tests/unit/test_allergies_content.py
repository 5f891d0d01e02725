"""``data/allergies.csv`` (allergy codes, "no known allergy", the synthetic shares) and the
synthetic locality's allergies: the shipped file loads, broken edits are refused with the
file and line, and the generator records plausible allergies (penicillin in about 7% of
adults) and all three states of a record (allergies, "no known allergies", nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wraparound import clinical
from wraparound.clinical import ClinicalContentError
from wraparound.warehouse.store import Warehouse

DATA = Path(str(clinical.package_data_dir()))
HEADER = ",".join(clinical.ALLERGY_COLUMNS) + "\n"
GOOD = (
    "penicillin,91936005,Allergy to penicillin,medication,allergy,high,39579001,Anaphylaxis,"
    "severe,7,2\n"
)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_shipped_allergies_load_with_no_known_codes():
    codes = {a.code: a for a in clinical.allergies()}
    assert codes["91936005"].term == "Allergy to penicillin"
    assert 6 <= codes["91936005"].adult_percent <= 10
    assert {c for c, a in codes.items() if a.no_known} == {"716186003", "409137002"}
    assert all(clinical.is_concept_id(c) for c in codes)


@pytest.mark.parametrize(
    "row, problem",
    [
        ("nut,91935009,Allergy to peanuts,food,allergy,high,39579001,Anaphylaxis,severe,7,x",
         "child_percent 'x' is not a number"),
        ("nut,91935009,Allergy to peanuts,food,allergy,high,39579001,Anaphylaxis,severe,120,1",
         "adult_percent 120.0 is not a percentage"),
        ("nut,91935009,Allergy to peanuts,snack,allergy,high,39579001,Anaphylaxis,severe,1,1",
         "category 'snack' is not one of"),
        ("nut,91935009,Allergy to peanuts,food,allergy,high,39579001,Anaphylaxis,awful,1,1",
         "reaction_severity 'awful' is not one of"),
        ("nut,91935008,Allergy to peanuts,food,allergy,high,39579001,Anaphylaxis,severe,1,1",
         "not a valid SNOMED CT concept id"),
        ("no_known,716186003,No known allergy,food,,,,,,30,15", "a no_known code has no category"),
        ("penicillin,91936005,Again,medication,allergy,high,39579001,Anaphylaxis,severe,1,1",
         "duplicate code 91936005"),
    ],
)  # fmt: skip
def test_a_bad_row_is_refused_with_its_line(data_copy, row, problem):
    (data_copy / "allergies.csv").write_text(HEADER + GOOD + row + "\n")
    with pytest.raises(ClinicalContentError) as err:
        clinical.allergies(data_copy)
    assert problem in str(err.value)
    assert str(err.value).startswith("data/allergies.csv:3:")


def test_no_known_shares_over_100_are_refused(data_copy):
    (data_copy / "allergies.csv").write_text(
        HEADER + "no_known,716186003,No known allergy,,,,,,,80,1\n"
        "no_known,409137002,No known drug allergy,,,,,,,30,1\n"
    )
    with pytest.raises(ClinicalContentError, match="adult_percent add up to 110"):
        clinical.allergies(data_copy)


def test_the_synthetic_locality_records_plausible_allergies(small_warehouse):
    wh = Warehouse(small_warehouse)
    rows = wh.read("allergies").to_pylist()
    patients = wh.read("patients").to_pylist()
    births = {p["patient_id"]: p["birth_date"] for p in patients}
    end = max(births.values())  # the newest birth: about the extract's end
    adults = {p for p, b in births.items() if (end - b).days >= 19 * 365.25}
    penicillin = {r["patient_id"] for r in rows if r["code"] == "91936005"}
    share = len(penicillin & adults) / len(adults)
    assert 0.05 <= share <= 0.095, share
    no_known = {a.code for a in clinical.allergies() if a.no_known}
    with_allergy = {r["patient_id"] for r in rows if r["code"] not in no_known}
    with_nka = {r["patient_id"] for r in rows if r["code"] in no_known}
    assert not with_allergy & with_nka  # "no known allergy" only where none is recorded
    assert with_allergy and with_nka and set(births) - with_allergy - with_nka  # three states
    assert {r["clinical_status"] for r in rows} == {"active"}
    assert all(births[r["patient_id"]] <= r["recorded_date"] for r in rows)
