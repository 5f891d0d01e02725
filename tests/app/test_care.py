"""Care plans (versions, agreement, print, FHIR R4), case status and named people with
history, and MDT outcomes landing on owners' task lists."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest
from django.urls import reverse
from worlds import patients

from wraparound.apps.care.models import CaseEvent, Task
from wraparound.apps.records.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def plan_form(nurse, **extra) -> dict:
    return {
        "what_matters": "Staying at home with my dog",
        "goals": "Walk to the shop weekly",
        "review_date": "2027-05-01",
        "action_0_what": "Review inhalers",
        "action_0_owner": nurse.pk,
        "action_0_due": "2026-12-01",
        "escalation": "Call the co-ordinator if breathless",
        **extra,
    }


def validate(resource: dict) -> None:
    module = importlib.import_module(f"fhirclient.models.{resource['resourceType'].lower()}")
    getattr(module, resource["resourceType"])(resource, strict=True)


def test_care_plan_versions_agreement_print_and_fhir(client, login):
    patient = patients()["related"]
    nurse = User.objects.get(username="nurse")
    login("coordinator")
    bad = client.post(reverse("care_plan_edit", args=[patient.pk]), {"goals": "x"})
    assert bad.status_code == 400 and b"what matters" in bad.content
    client.post(reverse("care_plan_edit", args=[patient.pk]), plan_form(nurse))
    client.post(
        reverse("care_plan_edit", args=[patient.pk]),
        plan_form(nurse, agreed="yes", agreed_on="2026-11-20", agreed_how="at home"),
    )
    plan = patient.care_plan
    assert [v.number for v in plan.versions.all()] == [2, 1]
    assert plan.latest().agreed and not plan.versions.get(number=1).agreed
    assert plan.review_date == dt.date(2027, 5, 1)
    earlier = client.get(reverse("care_plan", args=[patient.pk]) + "?version=1")
    assert b"Earlier version" in earlier.content and b"Not yet" in earlier.content
    printable = client.get(reverse("care_plan_print", args=[patient.pk]))
    assert printable.status_code == 200 and b"Walk to the shop" in printable.content

    bundle = json.loads(client.get(reverse("care_plan_fhir", args=[patient.pk])).content)
    validate(bundle)
    kinds = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert set(kinds) == {"CarePlan", "CareTeam", "Patient"}
    for resource in kinds.values():
        validate(resource)
    care_plan = kinds["CarePlan"]
    assert care_plan["meta"]["versionId"] == "2"
    assert care_plan["careTeam"][0]["reference"] == next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CareTeam"
    )
    assert care_plan["activity"][0]["detail"]["description"] == "Review inhalers"
    assert kinds["Patient"]["identifier"][0]["value"] == patient.nhs_number
    assert len(kinds["CareTeam"]["participant"]) >= 3


def test_status_and_named_people_keep_history(client, login):
    patient = patients()["related"]
    other_gp = User.objects.create(
        username="gp2",
        first_name="Ben",
        last_name="Ward",
        role="gp",
        scope="practice",
        scope_org=patient.practice,
    )
    login("coordinator")
    client.post(reverse("case_manage", args=[patient.pk]), {"status": "contacted"})
    client.post(
        reverse("case_manage", args=[patient.pk]),
        {"status": "care_plan_agreed", "named_gp": other_gp.pk, "note": "agreed"},
    )
    patient.case.refresh_from_db()
    assert patient.case.status == "care_plan_agreed" and patient.case.named_gp == other_gp
    history = list(CaseEvent.objects.filter(patient=patient).values_list("field", "value"))
    assert ("status", "Contacted") in history and ("status", "Care plan agreed") in history
    assert ("named_gp", "Ben Ward") in history
    assert not patient.care_team.filter(user__username="gp", active=True).exists()


def test_mdt_outcome_puts_actions_on_owners_task_lists(client, login):
    world = patients()
    item, patient = world["agenda_item"], world["related"]
    pharmacist = User.objects.get(username="pharmacist")
    login("coordinator")
    response = client.post(
        reverse("mdt_outcome", args=[patient.pk, item.pk]),
        {
            "summary": "Two admissions with COPD",
            "decisions": "Medicines review; rescue pack",
            "action_0_what": "Structured medication review",
            "action_0_owner": pharmacist.pk,
            "action_0_due": "2026-12-10",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.discussed_at and item.decisions.startswith("Medicines")
    task = Task.objects.get(agenda_item=item)
    assert task.assignee == pharmacist and task.source == "mdt"
    login("pharmacist")
    assert b"Structured medication review" in client.get(reverse("tasks")).content
    login("coordinator")
    client.post(
        reverse("mdt_detail", args=[item.meeting_id]),
        {"attended": [pharmacist.pk], "attendance": "1"},
    )
    assert list(item.meeting.attended.all()) == [pharmacist]
