"""The permission matrix: every demo role x every relationship kind (and none) x every
patient view, writes included, refusals included.

Each cell builds exactly one relationship of one kind between a demo user and a new patient
(``worlds.fresh_patient``), then tries every view: the reads by GET, the writes by a valid
POST. What each kind allows is stated here, independently of ``data/relationships.toml``,
as the issue asks (a booking reads, never writes a care plan or changes the case; break-glass
reads, never creates or extends a relationship; an MDT reads, records the discussion and
the reviews its actions ask for). A write allowed must have happened (and left one audit row
with the expected basis); a write refused must be a 403, change nothing, and leave one
``denied`` row naming the user.

Relationships end (``ends`` in the data file): two more columns hold a booking and a referral
whose window ended the day before the today for data (``records/clock.py``); they allow nothing
anywhere, as having no relationship.

The size of the matrix (roles x views x kinds, allowed and refused) is asserted at the end and,
with ``WRAPAROUND_MATRIX_JSON=path``, written there (``benchmarks/permission_matrix.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient, patients

from wraparound.apps.access.booking import Actor, book
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment, Hub, Slot
from wraparound.apps.care.models import (
    AgendaItem,
    CarePlan,
    CareTeamMember,
    CaseRecord,
    ClinicalReview,
    MdtMeeting,
)
from wraparound.apps.commissioning.models import LocalQofRun
from wraparound.apps.demo import DEMO_USERS
from wraparound.apps.records import relationships
from wraparound.apps.records.clock import data_today
from wraparound.apps.records.models import AuditEvent, Organisation, Referral, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

# The matrix runs once, on SQLite: it checks the gate's decisions, which are the same Python
# over the same ORM queries on any database. Every relationship provider's queries also run
# on PostgreSQL (test_relationships.py asks each of them), and so do the writes, the audit
# chain and every refusal path (test_audit_walk.py, test_fuzz_views.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app"), pytest.mark.one_database]

ROLES = [u[0] for u in DEMO_USERS]
DIRECT_CARE = {
    "gp",
    "practice",
    "coordinator",
    "nurse",
    "social",
    "pharmacist",
    "mentalhealth",
    "linkworker",
    "hub",
}
PRACTICE_LIST = {"gp", "practice"}  # registration with their practice is a relationship
REGISTER_POOL = {"gp", "practice", "coordinator"}
WITH_SERVICE = {"nurse", "hub"}  # patients are booked or referred to their service
RECORDS_REVIEWS = {"gp", "practice", "nurse", "pharmacist"}
CAN_BOOK = {"gp", "practice", "coordinator", "hub"}  # Role.can_book (access app)

KINDS = [
    "registered",
    "caseload",
    "register",
    "mdt",
    "referral",
    "booking",
    "hub_catchment",
    "break_glass",
]
# A relationship that ended is none: set up like the kind, dated so its window closed yesterday.
ENDED = ["booking_ended", "referral_ended"]
CELLS = [*KINDS, *ENDED, None]
EVERYTHING = {
    "read",
    "case.status",
    "care_team.manage",
    "care_plan.write",
    "mdt.add",
    "mdt.outcome",
    "review.record",
    "booking.create",
    "appointment.update",
}
ALLOWS = {
    "registered": EVERYTHING,
    "caseload": EVERYTHING,
    "register": EVERYTHING,
    "mdt": {"read", "mdt.outcome", "review.record"},  # an MDT action done with the patient
    "referral": {"read", "review.record"},
    "booking": {"read"},
    # hub staff book for, and record the outcome of, patients of the hub's neighbourhood
    "hub_catchment": {"booking.create", "appointment.update"},
    "break_glass": {"read"},
}
# view -> the action it needs; reads by GET, writes by POST
VIEWS = {
    "patient": "read",
    "patient_timeline": "read",
    "care_plan": "read",
    "care_plan_print": "read",
    "referrals_patient": "read",  # the referrals app's patient page (GET: read)
    "case_manage:status": "case.status",
    "case_manage:add_member": "care_team.manage",
    "care_plan_edit": "care_plan.write",
    "mdt_add": "mdt.add",
    "mdt_outcome": "mdt.outcome",
    "reviews": "review.record",
    "access_book": "booking.create",
    "access_change": "appointment.update",
}
GLASS = {
    "reason_code": "urgent_care",
    "reason": "Seen at the hub out of hours with chest pain, need the medication history",
}
RESULTS: dict[tuple[str, str, str], str] = {}


def hub_seeded() -> bool:
    """Whether the demo hub has an access ``Hub`` already (then the hub user holds
    ``hub_catchment`` for every patient of the neighbourhood, whatever the cell builds)."""
    return Hub.objects.filter(organisation=User.objects.get(username="hub").service).exists()


def held_kinds(username: str, kind: str | None, seeded: bool = False) -> set[str]:
    """The kinds the setup of ``kind`` should give ``username`` (the role decides)."""
    catchment = {"hub_catchment"} if username == "hub" and seeded else set()
    if username not in DIRECT_CARE:
        return set()
    if kind is None or kind in ENDED:
        return catchment
    return (
        catchment
        | {
            "registered": {"registered"} if username in PRACTICE_LIST else set(),
            "caseload": {"caseload"},
            "register": ({"registered"} if username in PRACTICE_LIST else set())
            | ({"register"} if username in REGISTER_POOL else set()),
            # the patient is at another practice of the neighbourhood: a practice GP on the
            # neighbourhood's MDT gains nothing for them
            "mdt": set() if username in PRACTICE_LIST else {"mdt"},
            "referral": {"referral"} if username in WITH_SERVICE else set(),
            "booking": {"booking"} if username in WITH_SERVICE else set(),
            "hub_catchment": {"hub_catchment"} if username == "hub" else set(),
            "break_glass": {"break_glass"},
        }[kind]
    )


def expected_basis(username: str, kind: str | None, view: str, seeded=False) -> str | None:
    if view == "reviews" and username not in RECORDS_REVIEWS:
        return None
    if view == "access_book" and username not in CAN_BOOK:
        return None
    held = held_kinds(username, kind, seeded)
    return next((k for k in KINDS if k in held and VIEWS[view] in ALLOWS[k]), None)


def build(kind: str | None, user: User, client):
    """A new patient with exactly one relationship of ``kind`` to ``user``; the meetings
    and agenda item the MDT views need."""
    at_practice = kind in ("registered", "register")
    patient = fresh_patient(at_gp_practice=at_practice)
    coordinator = User.objects.get(username="coordinator")
    team = coordinator.scope_org
    today = dt.date.today()
    meetings = {}
    for name, days in (("current", 7), ("next", 10), ("old", -60)):
        meetings[name] = MdtMeeting.objects.create(
            team=team, date=today + dt.timedelta(days=days), chair=coordinator
        )
        meetings[name].members.add(user)
    # The outcome is recorded on an item the user can only reach through the kind under
    # test: a meeting 60 days ago is outside every MDT window.
    on = meetings["current"] if kind == "mdt" else meetings["old"]
    item = AgendaItem.objects.create(
        meeting=on, patient=patient, reason="raised", raised_by=coordinator, raised_basis="register"
    )
    if kind == "caseload":
        CareTeamMember.objects.create(
            patient=patient,
            user=user,
            team_role="member",
            added_by=coordinator,
            added_basis="register",
        )
    elif kind == "register":
        run = RegisterRun.objects.get(current=True)
        RegisterEntry.objects.create(
            run=run,
            patient=patient,
            practice=patient.practice,
            neighbourhood=patient.neighbourhood,
            score=0.9,
            risk_band="high",
            percentile=99.0,
            stream="high",
        )
    elif kind in ("referral", "booking", *ENDED):
        service_kind = kind.removesuffix("_ended")
        on = data_today()  # dated in the data, as the warehouse load dates it
        if kind in ENDED:  # the last day of its window was yesterday
            days = relationships.policy().kinds[service_kind]["days_after"]
            on -= dt.timedelta(days=days + 1)
        Referral.objects.create(
            patient=patient,
            service=user.service or Organisation.objects.filter(kind="hub").first(),
            kind=service_kind,
            on=on,
            source_id=f"matrix-{kind}-{patient.pk}",
        )
    elif kind == "break_glass":
        response = client.post(reverse("break_glass", args=[patient.pk]), GLASS)
        assert response.status_code == (302 if user.username in DIRECT_CARE else 403)
    meetings.update(access_world(kind, patient, coordinator))
    return patient, item, meetings


def access_world(kind, patient, coordinator) -> dict:
    """A hub slot to book and an appointment to change: at a hub none of the demo users
    works for, except in the ``hub_catchment`` cell, where the hub is the demo hub user's
    own (so only that cell gives them the relationship)."""
    neighbourhood = coordinator.scope_org
    if kind == "hub_catchment":
        hub = create_hub(User.objects.get(username="hub").service)
    else:
        org, _ = Organisation.objects.get_or_create(
            org_id="H99998",
            defaults={"name": "Matrix Hub", "kind": "hub", "parent": neighbourhood},
        )
        hub = create_hub(org)
    now = timezone.now()
    slots = [
        Slot.objects.create(
            hub=hub,
            site=hub.sites.first(),
            role="gp",
            mode="face_to_face",
            slot_type="routine",
            start=now + dt.timedelta(days=3, minutes=15 * i),
            end=now + dt.timedelta(days=3, minutes=15 * (i + 1)),
            released_to_practices_at=now - dt.timedelta(hours=1),
        )
        for i in range(2)
    ]
    appt, _ = book(Actor(user=coordinator), patient, slots[1], reason="matrix", slots=1)
    return {"slot": slots[0], "appointment": appt}


def attempt(client, view: str, patient, item, meetings, user):
    """Make the request; return (response, whether the write happened)."""
    pk = patient.pk
    other = User.objects.get(username="linkworker" if user.username == "social" else "social")
    nurse = User.objects.get(username="nurse")
    if view in ("patient", "patient_timeline", "care_plan", "care_plan_print", "referrals_patient"):
        response = client.get(reverse(view, args=[pk]))
        return response, response.status_code == 200
    if view == "case_manage:status":
        response = client.post(reverse("case_manage", args=[pk]), {"status": "contacted"})
        return response, CaseRecord.objects.filter(patient=patient, status="contacted").exists()
    if view == "case_manage:add_member":
        response = client.post(
            reverse("case_manage", args=[pk]), {"status": "identified", "member": other.pk}
        )
        done = CareTeamMember.objects.filter(patient=patient, user=other, active=True).exists()
        return response, done
    if view == "care_plan_edit":
        response = client.post(
            reverse("care_plan_edit", args=[pk]),
            {
                "what_matters": "Staying at home",
                "goals": "Walk to the shop",
                "review_date": (dt.date.today() + dt.timedelta(days=180)).isoformat(),
                "action_0_what": "Review inhalers",
                "action_0_owner": nurse.pk,
                "action_0_due": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            },
        )
        return response, CarePlan.objects.filter(patient=patient).exists()
    if view == "mdt_add":
        response = client.post(reverse("mdt_add", args=[pk]), {"meeting": meetings["next"].pk})
        return response, AgendaItem.objects.filter(
            meeting=meetings["next"], patient=patient
        ).exists()
    if view == "mdt_outcome":
        response = client.post(
            reverse("mdt_outcome", args=[pk, item.pk]),
            {"summary": "Discussed", "decisions": "Keep under review"},
        )
        item.refresh_from_db()
        return response, item.discussed_at is not None
    if view == "reviews":
        response = client.post(
            reverse("reviews", args=[pk]),
            {"kind": "ltc_review", "date": dt.date.today().isoformat()},
        )
        return response, ClinicalReview.objects.filter(patient=patient).exists()
    if view == "access_book":
        slot = meetings["slot"]
        response = client.post(
            reverse("access_book", args=[pk]), {"slot": slot.pk, "reason": "Matrix booking"}
        )
        return response, Appointment.objects.filter(patient=patient, start=slot.start).exists()
    if view == "access_change":
        appt = meetings["appointment"]
        response = client.post(
            reverse("access_change", args=[pk]), {"appointment": appt.pk, "status": "arrived"}
        )
        appt.refresh_from_db()
        return response, appt.status == "arrived"
    raise AssertionError(view)


@pytest.mark.parametrize("kind", CELLS, ids=[*KINDS, *ENDED, "none"])
@pytest.mark.parametrize("username", ROLES)
def test_matrix(client, login, username, kind):
    user = User.objects.get(username=username)
    login(username)
    seeded = hub_seeded()
    patient, item, meetings = build(kind, user, client)
    held = {r.kind for r in relationships.current(user, patient)}
    assert held == held_kinds(username, kind, seeded), f"{username} holds {held} after {kind}"
    failures = []
    for view in VIEWS:
        basis = expected_basis(username, kind, view, seeded)
        with transaction.atomic():
            before = AuditEvent.objects.filter(patient=patient).values_list("pk", flat=True)
            before = set(before)
            response, done = attempt(client, view, patient, item, meetings, user)
            rows = list(
                AuditEvent.objects.filter(patient=patient)
                .exclude(pk__in=before)
                .exclude(action__in=("grant", "end"))
            )
            grants = (
                AuditEvent.objects.filter(patient=patient, action="grant")
                .exclude(pk__in=before)
                .count()
            )
            transaction.set_rollback(True)  # every view starts from the same relationship
            if len(rows) != 1:
                failures.append(f"{view}: {len(rows)} audit rows")
                continue
            row = rows[0]
            if basis is None:
                ok = (
                    response.status_code == 403
                    and not done
                    and row.outcome == "denied"
                    and row.username == username
                )
            else:
                ok = (
                    response.status_code in (200, 302)
                    and done
                    and (row.outcome, row.basis) == ("allowed", basis)
                )
                if view in ("mdt_add", "case_manage:add_member", "access_book"):
                    ok = ok and grants == 1  # the relationship granted is audited
            RESULTS[(username, kind or "none", view)] = "allowed" if basis else "refused"
            if not ok:
                failures.append(
                    f"{view}: expected {basis or 'refused'}, got {response.status_code} "
                    f"done={done} row=({row.outcome}, {row.basis}, {row.what})"
                )
    assert not failures, f"{username} with {kind}: " + "; ".join(failures)


def test_matrix_size():
    """Every cell ran (when the whole module ran) and the counts are what the table says."""
    cells = len(ROLES) * len(VIEWS) * len(CELLS)
    seeded = hub_seeded()
    allowed = sum(
        expected_basis(u, k, v, seeded) is not None for u in ROLES for k in CELLS for v in VIEWS
    )
    if len(RESULTS) != cells:
        pytest.skip(f"only {len(RESULTS)} of {cells} cells ran (run the whole module)")
    assert sum(r == "allowed" for r in RESULTS.values()) == allowed
    summary = {
        "roles": len(ROLES),
        "views": len(VIEWS),
        "kinds": len(CELLS),
        "kinds_list": [*KINDS, *ENDED, "none"],
        "views_list": list(VIEWS),
        "cells": cells,
        "allowed": allowed,
        "refused": cells - allowed,
        "by_kind": {
            k or "none": {
                "allowed": sum(
                    RESULTS[(u, k or "none", v)] == "allowed" for u in ROLES for v in VIEWS
                ),
                "refused": sum(
                    RESULTS[(u, k or "none", v)] == "refused" for u in ROLES for v in VIEWS
                ),
            }
            for k in CELLS
        },
    }
    print(json.dumps(summary))
    if out := os.environ.get("WRAPAROUND_MATRIX_JSON"):
        with open(out, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")


@pytest.mark.parametrize("username", ["commissioner", "admin", "auditor"])
def test_non_clinical_roles_cannot_break_glass(client, login, username):
    stranger = patients()["stranger"]
    login(username)
    response = client.post(reverse("break_glass", args=[stranger.pk]), GLASS)
    assert response.status_code == 403
    assert client.get(reverse("patient", args=[stranger.pk])).status_code == 403
    assert AuditEvent.objects.filter(
        patient=stranger, username=username, what="break glass", outcome="denied"
    ).exists()


def test_commissioner_sees_pseudonyms_only(client, login):
    related = patients()["related"]
    login("commissioner")
    html = client.get(reverse("worklist")).content.decode()
    assert related.pseudonym in html
    assert related.nhs_number_display() not in html and related.family_name.upper() not in html
    assert reverse("patient", args=[related.pk]) not in html


# The new apps' main pages (no patient in the URL): role x page, from each view's own gate
# (read in the view, not from the DESIGN). A refusal is a 403 and, where the app audits its
# refusals, one ``denied`` row naming the user. ``referrals_queue`` needs an account with a
# service in the directory: no demo login has one (the provider login below does).
REGISTER_POOL_OR_PSEUDO = REGISTER_POOL | {"commissioner"}
PAGES = {
    # name: (reverse args, roles allowed, refusals audited)
    "referrals_directory": ((), DIRECT_CARE, True),
    "referrals_worklist": ((), DIRECT_CARE, True),
    "referrals_queue": ((), set(), True),
    "referrals_centre": ((), REGISTER_POOL, True),  # register_pool or practice_list
    "triage_queue": ((), PRACTICE_LIST, True),
    "messages_outbox": ((), DIRECT_CARE, True),
    "letters_dashboard": ((), REGISTER_POOL_OR_PSEUDO, True),
    "commissioning_local_qof": ((), {"commissioner"}, True),
    "commissioning_budget": ((), {"commissioner"}, True),
    "commissioning_early_warning": ((), {"commissioner"}, True),
    "commissioning_decisions": ((), {"commissioner"}, True),
    "commissioning_interests": ((), {"commissioner"}, True),
    # refused through records' audited denial, as the other apps (no longer the scorecard's
    # unaudited refusal)
    "evaluation": ((), {"commissioner"}, True),
    "evaluation_demand": ((), {"commissioner"}, True),
    "evaluation_report": (("high_needs_wraparound",), {"commissioner"}, True),
    # the access pages (issue 13): direct care; the day list is a hub's own staff (no hub
    # exists in this world, so it refuses everyone, each refusal audited)
    "access_hubs": ((), DIRECT_CARE, True),
    "access_find": ((), DIRECT_CARE, True),
    "access_day": ((), set(), True),
    "outreach": ((), PRACTICE_LIST | {"commissioner"}, True),
    "outreach_list": (("flu_65_unvaccinated",), PRACTICE_LIST, True),
    # scorecards or access dashboards
    "feedback_results": ((), REGISTER_POOL | {"hub", "commissioner"}, True),
}
# Allowed but with nothing published in the test world: the page says so with a 404.
NOTHING_PUBLISHED = {"commissioning_local_qof", "access_hubs"}  # access_hubs: no hub yet


@pytest.mark.parametrize("username", ROLES)
def test_new_app_pages_by_role(client, login, username):
    from referrals_world import world

    world()  # the demo directory
    # Nothing published: test_commissioning's session-wide local QOF run (commissioning_world)
    # stays in this worker's database when it ran first; deleted inside this test's
    # transaction, so it is back for any test after.
    LocalQofRun.objects.all().delete()
    login(username)
    failures = []
    for name, (args, allowed, audited) in PAGES.items():
        before = AuditEvent.objects.filter(what__isnull=False).order_by("-pk").first()
        response = client.get(reverse(name, args=args))
        denied = AuditEvent.objects.filter(
            pk__gt=before.pk if before else 0, outcome="denied", username=username
        ).count()
        if username in allowed:
            want = 404 if name in NOTHING_PUBLISHED else 200
            if response.status_code != want or denied:
                failures.append(f"{name}: expected {want}, got {response.status_code}")
        elif response.status_code != 403 or (audited and denied != 1):
            failures.append(f"{name}: expected 403, got {response.status_code} ({denied} denied)")
    assert not failures, f"{username}: " + "; ".join(failures)


def test_the_service_queue_is_its_services_own():
    """The queue's one allowed cell: a login with a service in the directory (the demo
    provider logins are made by the referrals seed; referrals_world makes one the same way)."""
    from django.test import Client
    from referrals_world import world

    w = world()
    client = Client()
    client.force_login(w["dermatologist"])
    assert client.get(reverse("referrals_queue")).status_code == 200
    hub = User.objects.get(username="hub")  # a service not in the directory
    client.force_login(hub)
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.get(reverse("referrals_queue"))
    assert response.status_code == 403
    assert "not with a service in the directory" in response.content.decode()
    denied = AuditEvent.objects.filter(pk__gt=before, outcome="denied", action="denied")
    assert list(denied.values_list("username", "what")) == [
        ("hub", "referral triage queue: your account is not with a service in the directory")
    ]
