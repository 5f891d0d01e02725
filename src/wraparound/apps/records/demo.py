"""Demo users for every role, and a little casework so every page has something on it.

Users are placed in the first neighbourhood and its largest practice. All share one demo
password (printed by ``wraparound app demo``); real deployments create users one by one
and never use this module.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from wraparound.apps.care import case as case_ops
from wraparound.apps.care.mdt import build_agenda
from wraparound.apps.care.models import MdtMeeting
from wraparound.apps.records.models import Organisation, User
from wraparound.apps.registers.models import RegisterEntry

DEMO_PASSWORD = "wraparound-demo-2026"  # printed by the demo; synthetic data only
CASELOAD = 25

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
    orgs = demo_orgs()
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
                "failed_logins": 0,
                "locked_until": None,
            },
        )
        user.set_password(password)
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
            case_ops.name_person(entry.patient, "named_gp", gp, gp)
            case_ops.name_person(entry.patient, "coordinator", coordinator, coordinator)
            if i % 3 == 0:
                case_ops.add_member(entry.patient, nurse, coordinator)
        if not MdtMeeting.objects.filter(team=coordinator.scope_org).exists():
            meeting = MdtMeeting.objects.create(
                team=coordinator.scope_org,
                date=dt.date.today() + dt.timedelta(days=7),
                chair=coordinator,
            )
            meeting.members.set(
                User.objects.filter(
                    role__in=(
                        "gp",
                        "coordinator",
                        "community_nurse",
                        "social_worker",
                        "pharmacist",
                        "mental_health",
                        "link_worker",
                    )
                )
            )
            build_agenda(meeting)
