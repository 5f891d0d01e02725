"""An allergies batch (allergies.csv) reaches the app through an incremental ``app refresh``:
only the patient it wrote is touched, their index row gets the allergy named from
``data/allergies.csv``, and the result is what a full refresh of the same warehouse gives."""

from __future__ import annotations

import shutil

import pytest
from django.db import transaction

from wraparound.apps.records.allergies import LISTED, allergy_record
from wraparound.apps.records.models import Patient
from wraparound.apps.refresh import refresh
from wraparound.sources.ingest import run_ingest

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

HEADER = (
    "id,nhs_number,system,code,display,clinical_status,verification_status,type,category,"
    "criticality,reaction_code,reaction_display,reaction_severity,onset_date,recorded_date"
)


class _Undo(Exception):
    """Rolls the refreshes back after their state is read."""


def _run(app_warehouse, folder, extract, full: bool):
    warehouse = folder / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    try:
        with transaction.atomic():
            refresh(warehouse, full=full)
            assert run_ingest([extract], warehouse, progress=False).ok
            summary = refresh(warehouse, full=full)
            state = sorted(Patient.objects.values_list("pseudonym", "allergies"))
            raise _Undo
    except _Undo:
        pass
    return summary, dict(state)


def test_an_allergies_batch_refreshes_incrementally_and_names_the_allergy(app_warehouse, tmp_path):
    patient = Patient.objects.filter(allergies=[]).exclude(practice=None).order_by("pk").first()
    assert patient is not None
    extract = tmp_path / "in" / "allergies.csv"
    extract.parent.mkdir()
    extract.write_text(
        HEADER
        + f"\nnew-alg,{patient.nhs_number},snomed,91936005,,active,confirmed,allergy,medication,"
        "high,39579001,Anaphylaxis,severe,,2026-03-01\n"
    )
    summary, incremental = _run(app_warehouse, tmp_path / "inc", extract, full=False)
    assert summary["mode"] == "incremental" and summary["touched_patients"] == 1
    assert "allergies" in summary["changed_tables"]
    [item] = incremental[patient.pseudonym]
    assert (item["name"], item["status"], item["reaction"], item["recorded"]) == (
        "Allergy to penicillin",
        "active",
        "Anaphylaxis",
        "2026-03-01",
    )
    patient.allergies = incremental[patient.pseudonym]
    assert allergy_record(patient).state == LISTED
    _, full = _run(app_warehouse, tmp_path / "full", extract, full=True)
    assert incremental == full
