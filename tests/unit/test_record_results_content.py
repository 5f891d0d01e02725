"""``data/record_results.csv`` (the results on the patient page) and the social-care service
code list: the shipped files load, cover what the generator writes, and broken edits are
refused with the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wraparound import clinical
from wraparound.clinical import ClinicalContentError
from wraparound.sources.fhir import mapping as m

DATA = Path(str(clinical.package_data_dir()))
HEADER = "result_id,label,component,system,code,unit\n"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_shipped_results_cover_the_generators_codes():
    codes = clinical.record_results()
    assert codes[0].result_id == "hba1c"
    ids = {c.result_id for c in codes}
    assert ids == {"hba1c", "blood_pressure", "egfr", "bmi"}
    written = clinical.observation_codes()
    by_code = {(c.system, c.code): c for c in codes}
    for obs_id, result_id, component in [
        ("hba1c", "hba1c", "value"),
        ("systolic_bp", "blood_pressure", "systolic"),
        ("diastolic_bp", "blood_pressure", "diastolic"),
        ("egfr", "egfr", "value"),
        ("bmi", "bmi", "value"),
    ]:
        hit = by_code[("snomed", written[obs_id].code)]
        assert (hit.result_id, hit.component, hit.unit) == (
            result_id,
            component,
            written[obs_id].unit,
        )
    assert ("loinc", "4548-4") in by_code and by_code[("loinc", "4548-4")].unit == "%"


def test_social_care_service_codes_are_snomed_concepts():
    entries = clinical.codelist_entries(m.SOCIAL_CARE_CODELIST)
    assert entries[0].code == "310134006" and entries[0].term == "Social services"
    assert all(clinical.is_concept_id(e.code) for e in entries)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("hba1c,HbA1c,total,snomed,999791000000106,mmol/mol", "unknown component 'total'"),
        ("hba1c,HbA1c,value,read2,XaPbt,mmol/mol", "system 'read2'"),
        ("hba1c,HbA1c,value,snomed,999791000000107,mmol/mol", "not a valid SNOMED CT"),
        ("hba1c,HbA1c,value,loinc,4548,%", "not a LOINC code"),
        ("hba1c,A1c,value,loinc,4548-4,%", "two labels"),
        ("hba1c,HbA1c,value,snomed,999791000000106,", "must not be empty"),
        ("HbA1c,HbA1c,value,loinc,4548-4,%", "invalid result_id"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(data_copy, row, problem):
    (data_copy / "record_results.csv").write_text(
        HEADER + "hba1c,HbA1c,value,snomed,999791000000106,mmol/mol\n" + row + "\n"
    )
    with pytest.raises(ClinicalContentError) as err:
        clinical.record_results(data_copy)
    assert problem in str(err.value)
    assert str(err.value).startswith("data/record_results.csv:3:")


def test_a_duplicate_code_and_half_a_blood_pressure_are_refused(data_copy):
    path = data_copy / "record_results.csv"
    path.write_text(
        HEADER + "bmi,BMI,value,snomed,60621009,kg/m2\negfr,eGFR,value,snomed,60621009,x\n"
    )
    with pytest.raises(ClinicalContentError, match="duplicate snomed code 60621009"):
        clinical.record_results(data_copy)
    path.write_text(HEADER + "blood_pressure,Blood pressure,systolic,snomed,72313002,mmHg\n")
    with pytest.raises(ClinicalContentError, match="expected 'value' alone"):
        clinical.record_results(data_copy)
    path.write_text("result_id,label,system,code,unit\n")
    with pytest.raises(ClinicalContentError, match="wrong columns"):
        clinical.record_results(data_copy)
