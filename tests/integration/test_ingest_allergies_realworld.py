"""Allergies from real public samples (issue 15), as published, unchanged:

- Synthea's bulk export (smart-on-fhir/sample-bulk-fhir-datasets,
  tests/fixtures/synthea-bulk-allergies): US Core AllergyIntolerance with SNOMED CT and RxNorm
  codes, several reactions each, offsets on ``recordedDate``.
- UK Core examples (NHSDigital, tests/fixtures/ukcore/allergies): amoxicillin with a reaction
  and severity, an entered-in-error record (no clinical status) that must never load, and a
  "no known drug allergy".

Both load in strict mode (R4 structure validated), so the samples are real R4 as well as
readable."""

from __future__ import annotations

from pathlib import Path

import orjson
from ingest_data import NOW

from wraparound import clinical
from wraparound.sources.ingest import run_ingest
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.store import Warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures"
SYNTHEA = FIXTURES / "synthea-bulk-allergies"
UKCORE = FIXTURES / "ukcore"
KEY = b"realworld-test-key"


def ingest(paths, wh):
    return run_ingest(
        [str(p) for p in paths],
        wh,
        progress=False,
        now=NOW,
        pseudonymiser=Pseudonymiser(KEY),
        strict=True,
    )


def by_id(wh: Path) -> dict[str, dict]:
    return {r["id"]: r for r in Warehouse(wh).read("allergies").to_pylist()}


def test_synthea_bulk_allergies_load_every_line(tmp_path):
    result = ingest([SYNTHEA], tmp_path / "wh")
    assert result.ok, result.report["errors"][:3]
    source = [
        orjson.loads(line)
        for line in (SYNTHEA / "AllergyIntolerance.000.ndjson").read_bytes().splitlines()
    ]
    rows = by_id(tmp_path / "wh")
    assert rows.keys() == {r["id"] for r in source} and len(rows) == 11
    pseudo = Pseudonymiser(KEY)
    for res in source:
        row = rows[res["id"]]
        coding = res["code"]["coding"][0]
        system = {"http://snomed.info/sct": "snomed"}.get(coding["system"], "rxnorm")
        assert (row["system"], row["code"], row["display"]) == (
            system,
            coding["code"],
            coding["display"],
        )
        local = res["patient"]["reference"].split("/")[1]
        assert row["patient_id"] == pseudo.local_id("local", local)
        assert (row["clinical_status"], row["verification_status"]) == ("active", "confirmed")
        assert (row["category"], row["criticality"]) == (res["category"][0], "low")
        assert row["recorded_date"].isoformat() == res["recordedDate"][:10]
        first = (res.get("reaction") or [{}])[0].get("manifestation", [{}])[0]
        assert row["reaction_code"] == (first.get("coding") or [{}])[0].get("code")
        assert row["reaction_severity"] is None  # Synthea sends no severity
    aspirin = next(r for r in rows.values() if r["code"] == "1191")
    assert (aspirin["system"], aspirin["display"]) == ("rxnorm", "Aspirin")
    nuts = next(r for r in rows.values() if r["code"] == "442571000124108")
    assert (nuts["reaction_code"], nuts["category"]) == ("247472004", "food")


def test_uk_core_allergies_load_and_entered_in_error_never_does(tmp_path):
    result = ingest([UKCORE / "examples", UKCORE / "allergies"], tmp_path / "wh")
    assert result.ok, result.report["errors"][:3]
    assert result.report["skipped"]["AllergyIntolerance (entered-in-error)"] == 1
    rows = by_id(tmp_path / "wh")
    assert sorted(rows) == [
        "UKCore-AllergyIntolerance-Amoxicillin-Example",
        "UKCore-AllergyIntolerance-Sn-NegHandlNoKnownAllergies-Example",
    ]
    amoxicillin = rows["UKCore-AllergyIntolerance-Amoxicillin-Example"]
    assert amoxicillin["patient_id"] == Pseudonymiser(KEY).nhs_number("9912003888")
    assert (amoxicillin["system"], amoxicillin["code"], amoxicillin["display"]) == (
        "snomed",
        "372687004",
        "Amoxicillin",
    )
    assert (amoxicillin["clinical_status"], amoxicillin["verification_status"]) == (
        "active",
        "confirmed",
    )
    assert (amoxicillin["reaction_code"], amoxicillin["reaction_display"]) == (
        "247472004",
        "Urticarial rash",
    )
    assert amoxicillin["reaction_severity"] == "mild"
    assert amoxicillin["recorded_date"].isoformat() == "2019-12-10"
    none_known = rows["UKCore-AllergyIntolerance-Sn-NegHandlNoKnownAllergies-Example"]
    no_known_codes = {a.code for a in clinical.allergies() if a.no_known}
    assert none_known["code"] == "409137002" and none_known["code"] in no_known_codes
    # a rerun of the same files changes no row
    again = ingest([UKCORE / "examples", UKCORE / "allergies"], tmp_path / "wh")
    assert again.ok
    drop = lambda r: {k: v for k, v in r.items() if k != "batch"}  # noqa: E731
    assert {k: drop(v) for k, v in by_id(tmp_path / "wh").items()} == {
        k: drop(v) for k, v in rows.items()
    }
