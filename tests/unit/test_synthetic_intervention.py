"""A simulated intervention (``synth --intervention``, issue 16) removes the prevented
emergency admissions (and the A&E attendances before them) and changes nothing else the
generator writes; without one, the generator is as before."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from wraparound import interventions
from wraparound.sources.synthetic.generator import generate

PATIENTS = 4000
SEED = 11
TOML = """
id = "halving"
version = "1"
name = "Halving"
[where]
practices = ["P90001"]
[when]
start = "2024-04-01"
[group]
efi_category = ["mild", "moderate", "severe"]
register = ["copd", "heart_failure"]
[logic_model]
inputs = ["a"]
activities = ["b"]
outputs = ["c"]
[[logic_model.outcome]]
id = "o"
measures = ["emergency_admissions"]
[simulation]
admission_hazard_change = -0.5
"""


@pytest.fixture(scope="module")
def pair():
    iv = interventions.parse(TOML, "test")
    return next(generate(PATIENTS, seed=SEED)), next(generate(PATIENTS, seed=SEED, intervention=iv))


def _keys(table, kinds):
    t = table.filter(pc.is_in(table["kind"], value_set=pa.array(kinds)))
    return sorted(
        zip(t["patient_id"].to_pylist(), t["kind"].to_pylist(), t["start"].to_pylist(), strict=True)
    )


def test_only_the_prevented_admissions_go(pair):
    bare, treated = pair
    assert bare.intervention is None and treated.intervention.num_rows > 10
    for name, table in bare.tables.items():
        if name not in ("encounters", "letters"):
            assert table.equals(treated.tables[name]), name
    assert bare.oracle.equals(treated.oracle)
    others = [
        "gp_appointment",
        "elective_admission",
        "outpatient",
        "community",
        "social_care",
    ]
    assert _keys(bare.tables["encounters"], others) == _keys(treated.tables["encounters"], others)
    before = _keys(bare.tables["encounters"], ["emergency_admission"])
    after = _keys(treated.tables["encounters"], ["emergency_admission"])
    prevented = treated.intervention
    assert len(before) - len(after) == prevented.num_rows
    assert set(after) <= set(before)
    # The oracle names exactly the patients whose admissions went (its date is the local
    # day; the encounter's start is UTC, so days are not compared).
    gone = {p for p, _, _ in set(before) - set(after)}
    assert set(prevented["patient_id"].to_pylist()) == gone
    assert all(str(d) >= "2024-04-01" for d in prevented["date"].to_pylist())
    # Letters: a prevented contact takes its letter with it; every other letter is as it was
    # (compared by content: encounter ids, and so letter ids, are positional).
    letter = ["patient_id", "org_id", "contact_start", "date", "type_code"]
    letters_before = _rows(bare.tables["letters"], letter)
    letters_after = _rows(treated.tables["letters"], letter)
    assert letters_after <= letters_before and len(letters_after) < len(letters_before)
    assert {row[0] for row in letters_before - letters_after} <= gone


def _rows(table, columns):
    return set(zip(*(table[c].to_pylist() for c in columns), strict=True))


def test_a_file_without_a_simulation_is_refused():
    iv = interventions.parse(
        TOML.replace("[simulation]\nadmission_hazard_change = -0.5\n", ""), "t"
    )
    with pytest.raises(ValueError, match="no \\[simulation\\]"):
        next(generate(100, seed=1, intervention=iv))


@pytest.mark.parametrize(
    "broken,message",
    [
        (TOML.replace('practices = ["P90001"]', ""), "where must name"),
        (TOML.replace('start = "2024-04-01"', 'start = "soon"'), "when.start"),
        (TOML.replace('"mild", ', '"frail", '), "efi_category"),
        (TOML.replace("-0.5", "-1.5"), "admission_hazard_change"),
        (TOML.replace('measures = ["emergency_admissions"]', ""), "measures"),
    ],
)
def test_broken_intervention_files_are_refused(broken, message):
    with pytest.raises(interventions.InterventionError, match=message):
        interventions.parse(broken, "test")
