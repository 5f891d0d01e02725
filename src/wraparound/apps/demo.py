"""Demo users for every role, and a little casework so every page has something on it.

Seeding sits above the apps (it fills records, care and registers, and later apps add their
own seed calls here), so no app imports it: ``wraparound app demo`` and the tests do
(the layers are in ``.importlinter``; docs/architecture.md).

Users are placed in the first neighbourhood and its largest practice. All share one demo
password (printed by ``wraparound app demo``); real deployments create users one by one
and never use this module.
"""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from wraparound.apps.care import case as case_ops
from wraparound.apps.care.careplan import save_version
from wraparound.apps.care.mdt import build_agenda
from wraparound.apps.care.models import (
    CarePlan,
    CareTeamMember,
    CaseEvent,
    ClinicalReview,
    MdtMeeting,
)
from wraparound.apps.records.models import Organisation, Patient, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun
from wraparound.clinical import registers
from wraparound.vocabulary import MDT_ROLES

DEMO_PASSWORD = "wraparound-demo-2026"  # printed by the demo; synthetic data only
CASELOAD = 25
REVIEW_SEED = 2026
DEMO_CLINICIANS = ("gp", "practice", "pharmacist", "nurse")  # who records the demo reviews
# The registers whose patients have an annual long-term condition review (the same list as
# data/indicators/ltc_annual_review.toml).
LTC_REGISTERS = (
    "asthma",
    "copd",
    "diabetes",
    "chd",
    "heart_failure",
    "hypertension",
    "ckd",
    "af",
    "stroke",
)

# username, first, last, role, scope level ("practice" | "neighbourhood" | "locality"), service
DEMO_USERS = (
    ("gp", "Asha", "Patel", "gp", "practice", None),
    ("practice", "Tom", "Reid", "practice_staff", "practice", None),
    ("coordinator", "Jo", "Okafor", "coordinator", "neighbourhood", None),
    ("nurse", "Sam", "Hughes", "community_nurse", "neighbourhood", "community"),
    ("social", "Priya", "Shah", "social_worker", "neighbourhood", None),
    ("pharmacist", "Owen", "Lloyd", "pharmacist", "neighbourhood", None),
    ("mentalhealth", "Ruth", "Ellis", "mental_health", "neighbourhood", None),
    ("linkworker", "Dan", "Kerr", "link_worker", "neighbourhood", None),
    ("hub", "Mia", "Brennan", "hub_clinician", "neighbourhood", "hub"),
    ("commissioner", "Lee", "Carter", "commissioner", "locality", None),
    ("admin", "Alex", "Morgan", "admin", "locality", None),
    ("auditor", "Grace", "Wong", "auditor", "locality", None),
)


def demo_orgs() -> dict[str, Organisation]:
    neighbourhood = Organisation.objects.filter(kind="neighbourhood").order_by("org_id").first()
    practices = Organisation.objects.filter(kind="practice", parent=neighbourhood)
    practice = max(practices, key=lambda p: p.patients.count())
    return {
        "practice": practice,
        "neighbourhood": neighbourhood,
        "locality": Organisation.objects.get(kind="locality"),
        "hub": Organisation.objects.filter(kind="hub", parent=neighbourhood).first(),
        "community": Organisation.objects.filter(kind="community").first(),
    }


def create_demo_users(password: str = DEMO_PASSWORD) -> list[User]:
    """The demo users, all with ``password``: hashed once and the one hash given to every
    user (Argon2 costs about half a second a hash by design; the password is shared and
    printed, so one salt for all of them hides nothing more)."""
    orgs = demo_orgs()
    encoded = make_password(password)
    users = []
    for username, first, last, role, scope, service in DEMO_USERS:
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": role,
                "scope": scope,
                "scope_org": orgs[scope],
                "service": orgs[service] if service else None,
            },
        )
        user.password = encoded
        user.save()
        users.append(user)
    return users


def create_demo_casework() -> None:
    """Name the GP and co-ordinator for the practice's highest-risk register patients, put
    the nurse on some of their care teams, and call this month's neighbourhood MDT."""
    gp = User.objects.get(username="gp")
    coordinator = User.objects.get(username="coordinator")
    nurse = User.objects.get(username="nurse")
    entries = (
        RegisterEntry.current()
        .filter(practice=gp.scope_org)
        .order_by("-score")
        .select_related("patient")[:CASELOAD]
    )
    with transaction.atomic():
        for i, entry in enumerate(entries):
            case_ops.name_person(entry.patient, "named_gp", gp, gp, basis="demo")
            case_ops.name_person(
                entry.patient, "coordinator", coordinator, coordinator, basis="demo"
            )
            if i % 3 == 0:
                case_ops.add_member(entry.patient, nurse, coordinator, basis="demo")
        if not MdtMeeting.objects.filter(team=coordinator.scope_org).exists():
            meeting = MdtMeeting.objects.create(
                team=coordinator.scope_org,
                date=dt.date.today() + dt.timedelta(days=7),
                chair=coordinator,
            )
            meeting.members.set(User.objects.filter(role__in=("gp", *MDT_ROLES)))
            build_agenda(meeting, coordinator)  # the patients the chair may add


def create_demo_reviews() -> dict[str, int]:
    """Care plans and reviews for the demo practice, dated inside the synthetic data (the two
    years before the current register run's index date) so the app-sourced indicators have
    something to count: the caseload's named GP and co-ordinator backdated to when the
    casework began; care plans agreed for two in three caseload patients and most dementia
    patients, and reviewed (agreed again) within the last year for most; long-term condition
    reviews, learning disability health checks and frailty assessments about a year apart.
    Seeded, so the same locality gives the same demo. Does nothing if the demo practice
    already has reviews (the demo run twice)."""
    run = RegisterRun.objects.filter(current=True).first()
    gp = User.objects.get(username="gp")
    practice = gp.scope_org
    if run is None or ClinicalReview.objects.filter(patient__practice=practice).exists():
        return {}
    end = run.index_date - dt.timedelta(days=1)  # the last day of data
    rng = random.Random(REVIEW_SEED)
    staff = {u.username: u for u in User.objects.filter(username__in=DEMO_CLINICIANS)}
    coordinator = User.objects.get(username="coordinator")
    names = {r.register_id: r.name for r in registers()}
    ltc = {names[r] for r in LTC_REGISTERS}
    planned = set(CarePlan.objects.values_list("patient_id", flat=True))
    counts = {"care_plans": 0, "care_plan_reviews": 0}

    def ago(low: int, high: int) -> dt.date:
        return end - dt.timedelta(days=rng.randint(low, high))

    def plan(patient: Patient, agreed: dt.date, reviewed: bool) -> None:
        """A plan agreed on ``agreed`` and, if ``reviewed`` and agreed over a year before
        the data end, reviewed and agreed again in the last 11 months."""
        review = ago(0, 330) if reviewed and agreed < end - dt.timedelta(days=365) else None
        for day in (agreed, review) if review else (agreed,):
            save_version(patient, _demo_plan(day), coordinator)
        planned.add(patient.pk)
        counts["care_plans"] += 1
        counts["care_plan_reviews"] += review is not None

    reviews: list[ClinicalReview] = []

    def annual(patient: Patient, kind: str, by: str) -> None:
        first = ago(0, 364)
        for day in (first, first - dt.timedelta(days=365)):
            reviews.append(
                ClinicalReview(patient=patient, kind=kind, date=day, recorded_by=staff[by])
            )

    with transaction.atomic():
        caseload = CareTeamMember.objects.filter(
            user=gp, team_role="named_gp", active=True
        ).select_related("patient")
        for i, member in enumerate(caseload.order_by("patient_id")):
            patient = member.patient
            began = ago(420, 700)
            at = timezone.make_aware(dt.datetime.combine(began, dt.time(10)))
            CareTeamMember.objects.filter(patient=patient, active=True).update(since=at)
            CaseEvent.objects.filter(patient=patient).update(at=at)
            if i % 3 != 2 and patient.pk not in planned:
                agreed = began + dt.timedelta(days=rng.randint(14, 60))
                plan(patient, agreed, reviewed=rng.random() < 0.75)
        patients = Patient.objects.filter(
            practice=practice, death_date=None, opted_out=False
        ).order_by("pk")
        frail = set(
            RegisterEntry.current()
            .filter(practice=practice, efi_category__in=("moderate", "severe"))
            .values_list("patient_id", flat=True)
        )
        for patient in patients:
            conditions = set(patient.conditions)
            dementia = names["dementia"] in conditions and patient.pk not in planned
            if dementia and rng.random() < 0.7:
                plan(patient, ago(400, 700), reviewed=rng.random() < 0.7)
            if conditions & ltc and rng.random() < 0.7:
                annual(patient, "ltc_review", rng.choice(("gp", "practice", "pharmacist")))
            if names["learning_disability"] in conditions and rng.random() < 0.75:
                annual(patient, "annual_health_check", "gp")
            if patient.pk in frail and rng.random() < 0.5:
                annual(patient, "frailty_assessment", "nurse")
        ClinicalReview.objects.bulk_create(reviews)
    for r in reviews:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    return counts


def create_demo_referrals() -> dict[str, int]:
    """The directory of services and a year of referral history (referrals app, issue 14);
    its two provider logins share the demo password."""
    from wraparound.apps.referrals.seed import seed

    return seed(DEMO_PASSWORD)


def create_demo_feedback() -> dict[str, int]:
    """Six months of anonymous Friends and Family Test responses and the offers due now
    (feedback app, issue 15); the months end with the synthetic data (the current register
    run's index date), as the demo's other casework does, so the indicators count them."""
    from wraparound.apps.feedback.seed import seed_demo

    run = RegisterRun.objects.filter(current=True).first()
    return seed_demo(until=run.index_date - dt.timedelta(days=1) if run is not None else None)


def create_demo_outreach(warehouse) -> dict[str, int]:
    """Every outreach cohort of data/outreach/ built into a call list (issue 14)."""
    from wraparound.apps.outreach.build import build
    from wraparound.apps.outreach.cohorts import library

    return {cohort_id: build(cohort_id, warehouse).size for cohort_id in library()}


def _demo_plan(day: dt.date) -> dict:
    return {
        "what_matters": "Staying well at home and knowing who to call",
        "goals": "Fewer unplanned trips to hospital; keep up with my medicines",
        "escalation": "Call the practice the same day if breathless or confused",
        "contingency": "Neighbour has a key; daughter can stay for a week",
        "out_of_hours": "NHS 111",
        "agreed_how": "Face to face at the practice",
        "review_date": day + dt.timedelta(days=182),
        "ltc_review_date": None,
        "agreed": True,
        "agreed_on": day,
        "actions": [],
    }
