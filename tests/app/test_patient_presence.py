"""The patient page asks only for the care lists that hold something (``care/presence.py``).
Its one ``EXISTS`` statement must agree with the ORM's answer for every list, as each list
fills and empties (an ended care-team place and a done task count as nothing), and the page
must then show what each list holds.

The app world's patients are real (loaded by refresh); each test adds to one of them inside
its own transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from wraparound.apps.care.models import (
    AgendaItem,
    Alert,
    CarePlan,
    CarePlanVersion,
    CareTeamMember,
    CaseRecord,
    ClinicalReview,
    MdtMeeting,
    Task,
)
from wraparound.apps.care.presence import LISTS, present
from wraparound.apps.records.models import Patient, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _orm(patient: Patient) -> dict[str, bool]:
    """The same questions through the ORM, as the page would ask them without presence."""
    return {
        "case": CaseRecord.objects.filter(patient=patient).exists(),
        "plan": CarePlan.objects.filter(patient=patient).exists(),
        "team": patient.care_team.filter(active=True).exists(),
        "alerts": patient.alerts.exists(),
        "tasks": patient.tasks.filter(done_at=None).exists(),
        "reviews": patient.reviews.exists(),
        "mdt_items": patient.agenda_items.exists(),
    }


@pytest.fixture
def bare() -> Patient:
    """A patient at the GP's practice with nothing in any care list."""
    gp = User.objects.get(username="gp")
    for patient in Patient.objects.filter(practice=gp.scope_org).order_by("pk"):
        if not any(_orm(patient).values()):
            return patient
    raise AssertionError("the world needs a patient with no care lists")


def test_presence_agrees_with_the_orm_as_each_list_fills(login, bare):
    gp = User.objects.get(username="gp")
    nurse = User.objects.get(username="nurse")
    assert set(LISTS) == set(_orm(bare))
    assert present(bare.pk) == _orm(bare) == dict.fromkeys(LISTS, False)

    now = timezone.now()
    ended = CareTeamMember.objects.create(
        patient=bare, user=nurse, team_role="member", active=False, ended_at=now
    )
    done = Task.objects.create(
        assignee=gp,
        patient=bare,
        what="Done already",
        due=dt.date.today(),
        source="mdt",
        done_at=now,
    )
    assert present(bare.pk) == _orm(bare) == dict.fromkeys(LISTS, False)

    CareTeamMember.objects.filter(pk=ended.pk).update(active=True, ended_at=None)
    Task.objects.filter(pk=done.pk).update(done_at=None)
    CaseRecord.objects.create(patient=bare, status="contacted", named_gp=gp)
    plan = CarePlan.objects.create(patient=bare)
    CarePlanVersion.objects.create(
        plan=plan,
        number=1,
        what_matters="Staying at home",
        author=gp,
        review_date=dt.date.today() + dt.timedelta(days=90),
    )
    Alert.objects.create(
        patient=bare,
        encounter_id="presence-1",
        kind="ae_attendance",
        occurred_at=now,
        batch=1,
        org_name="Presence Hospital",
    )
    ClinicalReview.objects.create(
        patient=bare,
        kind=ClinicalReview._meta.get_field("kind").choices[0][0],
        date=dt.date.today(),
        recorded_by=gp,
    )
    meeting = MdtMeeting.objects.filter(team=User.objects.get(username="coordinator").scope_org)
    AgendaItem.objects.create(meeting=meeting.first(), patient=bare, reason="raised")
    assert present(bare.pk) == _orm(bare) == dict.fromkeys(LISTS, True)
    # Another patient's lists say nothing about this one's.
    other = Patient.objects.exclude(pk=bare.pk).filter(practice=bare.practice).first()
    assert present(other.pk) == _orm(other)

    html = login("gp").get(f"/patients/{bare.pk}/").content.decode()
    for shown in (
        nurse.display(),  # the care team
        "Done already",  # the open task
        "Presence Hospital",  # the alert
        "Version 1",  # the care plan
        gp.get_full_name(),  # the named GP, and the review's author
        "Contacted",  # the case's status
        "MDT,",  # the agenda item
    ):
        assert shown in html, shown
    assert "No care team yet." not in html


def test_a_bare_patient_page_says_so(login, bare):
    html = login("gp").get(f"/patients/{bare.pk}/").content.decode()
    assert "No care team yet." in html and "No care plan yet." in html
    assert "Not on a caseload" in html
