"""Clinical content files: they load, they reference each other correctly, and bad edits fail.

The malformed-file tests work on a temporary copy of the package's data folder, so they
exercise exactly the files a commissioner would edit.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from wraparound import clinical
from wraparound.clinical import ClinicalContentError
from wraparound.sources.synthetic import params

DATA = Path(str(clinical.package_data_dir()))


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def _rewrite(path: Path, transform) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(transform(lines)), encoding="utf-8")


# --- SNOMED CT identifiers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "22298006",  # Myocardial infarction
        "195967001",  # Asthma
        "5370000",  # Atrial flutter
        "999791000000106",  # HbA1c IFCC (UK extension, long format)
        "248171000000108",  # Lives in care home (UK extension)
    ],
)
def test_known_concept_ids_are_valid(code: str) -> None:
    assert clinical.is_concept_id(code)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("22298007", "wrong check digit"),
        ("22929806", "adjacent digits transposed"),
        ("022298006", "leading zero"),
        ("12345", "too short"),
        ("1234567890123456789", "too long"),
        ("2229800A", "not digits"),
        ("", "empty"),
    ],
)
def test_malformed_concept_ids_are_rejected(code: str, why: str) -> None:
    assert not clinical.is_concept_id(code), why


def test_description_and_relationship_ids_are_not_concept_ids() -> None:
    for partition in ("01", "02", "11", "12"):
        payload = "1234567" + partition
        (check,) = [d for d in "0123456789" if clinical.verhoeff_valid(payload + d)]
        assert not clinical.is_concept_id(payload + check), partition


def test_verhoeff_matches_reference_vector() -> None:
    # The textbook example: the check digit of 236 is 3.
    assert clinical.verhoeff_valid("2363")
    assert not [d for d in "0124567 89".replace(" ", "") if clinical.verhoeff_valid("236" + d)]


def _all_codelist_files() -> list[Path]:
    return sorted((DATA / "codelists").glob("*.csv"))


@pytest.mark.parametrize("path", _all_codelist_files(), ids=lambda p: p.stem)
def test_every_code_in_every_codelist_is_a_valid_concept_id(path: Path) -> None:
    # Read the file directly as well as through the loader, so that this test does not depend
    # on the loader's own validation to find a bad code.
    with path.open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["code", "term"]
        bad = [row["code"] for row in reader if not clinical.is_concept_id(row["code"])]
    assert bad == []
    assert clinical.codelist(path.stem)


# --- Every file loads and cross-references resolve -----------------------------------------


def test_every_codelist_loads() -> None:
    ids = clinical.codelist_ids()
    assert "afib_cod" in ids and "carehome_cod" in ids
    for codelist_id in ids:
        entries = clinical.codelist_entries(codelist_id)
        assert entries, codelist_id
        assert all(e.term for e in entries)


def test_registers_load_and_reference_existing_codelists() -> None:
    registers = clinical.registers()
    ids = set(clinical.codelist_ids())
    assert len({r.register_id for r in registers}) == len(registers)
    for register in registers:
        assert set(register.codelists) <= ids
        if register.rule == "codes":
            assert register.codes


def test_efi_has_36_deficits_each_resolving_to_codes_or_a_rule() -> None:
    deficits = clinical.efi_deficits()
    assert len(deficits) == clinical.EFI_DEFICIT_COUNT == 36
    assert len({d.deficit_id for d in deficits}) == 36
    ids = set(clinical.codelist_ids())
    for deficit in deficits:
        assert set(deficit.codelists) <= ids
        if deficit.rule:
            assert deficit.rule == "polypharmacy" and not deficit.codes
        else:
            assert deficit.codes, deficit.deficit_id
    assert [d.deficit_id for d in deficits if d.rule] == ["polypharmacy"]


def test_efi_reuses_the_shared_refsets() -> None:
    by_id = {d.deficit_id: d for d in clinical.efi_deficits()}
    assert by_id["atrial_fibrillation"].codelists == ("afib_cod",)
    assert by_id["respiratory_disease"].codelists == ("ast_cod", "copd_cod")
    assert "dem_cod" in by_id["memory_cognitive"].codelists
    # Resolved codes are the union of the lists.
    memory = by_id["memory_cognitive"]
    assert set(memory.codes) == set(clinical.codelist("efi_memory_cognitive")) | set(
        clinical.codelist("dem_cod")
    )


def test_codelist_returns_a_fresh_list() -> None:
    first = clinical.codelist("efi_falls")
    first.append("not a code")
    assert "not a code" not in clinical.codelist("efi_falls")


# --- Malformed files raise specific errors --------------------------------------------------


def test_unknown_codelist_in_efi_deficits_is_named(data_copy: Path) -> None:
    _rewrite(
        data_copy / "efi_deficits.csv",
        lambda lines: [line.replace("efi_falls", "efi_tumbles") for line in lines],
    )
    with pytest.raises(ClinicalContentError, match=r"data/efi_deficits\.csv:\d+: .*'efi_tumbles'"):
        clinical.efi_deficits(data_copy)


def test_wrong_number_of_deficits(data_copy: Path) -> None:
    _rewrite(data_copy / "efi_deficits.csv", lambda lines: lines[:-1])
    with pytest.raises(ClinicalContentError, match=r"35 deficits; .* exactly 36"):
        clinical.efi_deficits(data_copy)


def test_duplicate_deficit_id(data_copy: Path) -> None:
    _rewrite(data_copy / "efi_deficits.csv", lambda lines: [*lines[:-1], lines[1]])
    with pytest.raises(
        ClinicalContentError, match=r":37: duplicate deficit_id 'activity_limitation'"
    ):
        clinical.efi_deficits(data_copy)


def test_deficit_with_neither_codes_nor_rule(data_copy: Path) -> None:
    _rewrite(
        data_copy / "efi_deficits.csv",
        lambda lines: ["falls,Falls,,\n" if line.startswith("falls,") else line for line in lines],
    )
    with pytest.raises(ClinicalContentError, match="neither code lists nor a rule"):
        clinical.efi_deficits(data_copy)


def test_wrong_columns(data_copy: Path) -> None:
    _rewrite(
        data_copy / "efi_deficits.csv",
        lambda lines: ["deficit_id,name,code_lists,rule\n", *lines[1:]],
    )
    with pytest.raises(ClinicalContentError, match=r"efi_deficits\.csv:1: wrong columns"):
        clinical.efi_deficits(data_copy)


def test_row_with_extra_field(data_copy: Path) -> None:
    _rewrite(
        data_copy / "registers.csv",
        lambda lines: [lines[0], lines[1].rstrip("\n") + ",extra\n", *lines[2:]],
    )
    with pytest.raises(ClinicalContentError, match=r"registers\.csv:2: 9 fields; expected 8"):
        clinical.registers(data_copy)


def test_bad_code_in_codelist_names_file_and_line(data_copy: Path) -> None:
    path = data_copy / "codelists" / "efi_falls.csv"
    _rewrite(path, lambda lines: [*lines, "1912003,Fall (typo)\n"])
    line = len(path.read_text().splitlines())
    with pytest.raises(
        ClinicalContentError, match=rf"data/codelists/efi_falls\.csv:{line}: '1912003' is not"
    ):
        clinical.codelist("efi_falls", data_copy)


def test_duplicate_code_in_codelist(data_copy: Path) -> None:
    path = data_copy / "codelists" / "efi_falls.csv"
    _rewrite(path, lambda lines: [*lines, lines[1]])
    with pytest.raises(ClinicalContentError, match="duplicate code 1912002"):
        clinical.codelist("efi_falls", data_copy)


def test_missing_codelist_file(data_copy: Path) -> None:
    with pytest.raises(ClinicalContentError, match=r"efi_tumbles\.csv: file not found"):
        clinical.codelist("efi_tumbles", data_copy)


def test_codelist_id_cannot_escape_the_folder(data_copy: Path) -> None:
    with pytest.raises(ClinicalContentError, match="invalid code list id"):
        clinical.codelist("../registers", data_copy)


def test_unknown_codelist_in_registers(data_copy: Path) -> None:
    _rewrite(
        data_copy / "registers.csv",
        lambda lines: [line.replace(",hyp_cod,", ",hyp_codes,") for line in lines],
    )
    with pytest.raises(
        ClinicalContentError, match=r"registers\.csv:2: unknown code list 'hyp_codes'"
    ):
        clinical.registers(data_copy)


def test_duplicate_register_id(data_copy: Path) -> None:
    _rewrite(data_copy / "registers.csv", lambda lines: [*lines, lines[1]])
    with pytest.raises(ClinicalContentError, match="duplicate register_id 'hypertension'"):
        clinical.registers(data_copy)


# --- Medicines, observations, ethnicity -----------------------------------------------------


def test_medications_load_with_known_indications() -> None:
    medications = clinical.medications()
    assert len(medications) >= 20
    indications = {r.register_id for r in clinical.registers()} | {"general"}
    assert {m.indication for m in medications} <= indications
    assert all(m.system == "snomed" and clinical.is_concept_id(m.code) for m in medications)
    # Enough distinct medicines for a multimorbid patient to reach the polypharmacy threshold.
    assert len({m.code for m in medications}) >= 2 * clinical.POLYPHARMACY_MIN_DISTINCT_MEDICATIONS


def test_observation_codes_cover_the_pipeline_measurements() -> None:
    observations = clinical.observation_codes()
    expected = {
        "hba1c",
        "systolic_bp",
        "diastolic_bp",
        "bmi",
        "egfr",
        "total_cholesterol",
        "weight",
        "efi_score",
    }
    assert expected <= set(observations)
    assert observations["hba1c"].code == "999791000000106"
    assert observations["hba1c"].unit == "mmol/mol"


def test_ethnicities_are_the_data_dictionary_categories() -> None:
    ethnicities = clinical.ethnicities()
    assert [e.code for e in ethnicities] == list("ABCDEFGHJKLMNPRSZ")
    assert sum(e.england_share_pct for e in ethnicities) == pytest.approx(100, abs=0.5)
    by_code = {e.code: e for e in ethnicities}
    assert by_code["A"].england_share_pct > 70
    assert 1 <= by_code["Z"].england_share_pct <= 6


def test_unknown_medication_indication(data_copy: Path) -> None:
    _rewrite(
        data_copy / "medications.csv",
        lambda lines: [*lines, "319996000,Simvastatin 10mg tablets,snomed,hyperlipidaemia\n"],
    )
    with pytest.raises(ClinicalContentError, match="unknown indication 'hyperlipidaemia'"):
        clinical.medications(data_copy)


def test_duplicate_observation_id(data_copy: Path) -> None:
    _rewrite(
        data_copy / "observation_codes.csv",
        lambda lines: [*lines, "bmi,301331008,Finding of body mass index,kg/m2\n"],
    )
    with pytest.raises(ClinicalContentError, match="duplicate observation_id 'bmi'"):
        clinical.observation_codes(data_copy)


def test_ethnicity_shares_must_sum_to_about_100(data_copy: Path) -> None:
    _rewrite(
        data_copy / "ethnicity.csv",
        lambda lines: [line.replace(",Not stated,3.0", ",Not stated,30.0") for line in lines],
    )
    with pytest.raises(ClinicalContentError, match="sums to 127"):
        clinical.ethnicities(data_copy)


def test_treatment_functions_name_every_synthetic_specialty() -> None:
    names = clinical.treatment_functions()
    assert names["330"] == "Dermatology" and names["320"] == "Cardiology"
    outpatient = params.parameters()["outpatient"]
    used = {*outpatient["general"], *outpatient["by_condition"].values(), "420"}
    assert used <= set(names)


def test_duplicate_treatment_function(data_copy: Path) -> None:
    _rewrite(data_copy / "treatment_functions.csv", lambda lines: [*lines, "330,Skin\n"])
    with pytest.raises(ClinicalContentError, match="duplicate code '330'"):
        clinical.treatment_functions(data_copy)
