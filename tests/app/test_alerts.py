"""Alerts after an ingest load: A&E attendance, emergency admission and discharge for a
patient on the register reach the named GP and co-ordinator, a discharge makes a follow-up
task due within two working days, and reloading the same data changes nothing."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from django.urls import reverse
from worlds import patients

from wraparound.apps.care.alerts import add_working_days
from wraparound.apps.care.models import Alert, Task
from wraparound.apps.refresh import refresh
from wraparound.sources.ingest import run_ingest

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

HEADER = "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty"


def test_working_days_skip_weekends():
    assert add_working_days(dt.date(2026, 11, 20), 2) == dt.date(2026, 11, 24)  # Fri -> Tue
    assert add_working_days(dt.date(2026, 11, 23), 2) == dt.date(2026, 11, 25)  # Mon -> Wed


def test_admission_after_a_load_alerts_gp_and_coordinator_once(
    client, login, app_warehouse, tmp_path
):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse)
    patient = patients()["related"]
    extract = tmp_path / "encounters.csv"
    extract.write_text(
        "\n".join(
            [
                HEADER,
                f"t-ae-1,{patient.nhs_number},ae_attendance,2026-04-02T10:00:00Z,"
                "2026-04-02T14:00:00Z,,attended,,R9A,,",
                f"t-adm-1,{patient.nhs_number},emergency_admission,2026-04-02T14:00:00Z,"
                "2026-04-06T11:00:00Z,,attended,,R9A,,",
            ]
        )
        + "\n"
    )
    assert run_ingest([extract], warehouse, progress=False).ok
    refresh(warehouse)
    alerts = Alert.objects.filter(patient=patient, encounter_id__startswith="t-")
    assert sorted(alerts.values_list("kind", flat=True)) == [
        "ae_attendance",
        "discharge",
        "emergency_admission",
    ]
    task = Task.objects.get(patient=patient, source="discharge")
    assert task.due == dt.date(2026, 4, 8) and task.assignee.username == "coordinator"

    assert run_ingest([extract], warehouse, progress=False).ok
    refresh(warehouse)
    assert (
        alerts.count() == 3
        and Task.objects.filter(source="discharge", patient=patient).count() == 1
    )

    for username in ("gp", "coordinator"):
        login(username)
        page = client.get(reverse("alerts")).content.decode()
        assert "Emergency admission" in page and str(patient) in page
