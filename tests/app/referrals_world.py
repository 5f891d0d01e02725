"""A small referrals world: the demo directory imported, a dermatologist and a transport
booker working for their directory services, and a patient of the demo GP's practice with no
other relationship (``worlds.fresh_patient``)."""

from __future__ import annotations

from worlds import fresh_patient

from wraparound.apps.records.models import User
from wraparound.apps.referrals import directory
from wraparound.apps.referrals.models import Service


def staff(username: str, service: Service, role: str = "hub_clinician") -> User:
    user, _ = User.objects.update_or_create(
        username=username,
        defaults={
            "first_name": username.title(),
            "last_name": "Provider",
            "role": role,
            "scope": "locality",
            "scope_org": User.objects.get(username="commissioner").scope_org,
            "service": service.org,
        },
    )
    return user  # no password: pages tests sign them in with force_login


def world() -> dict:
    directory.import_demo()
    derm = Service.objects.get(service_id="dud-derm")
    transport = Service.objects.get(service_id="dud-transport")
    return {
        "gp": User.objects.get(username="gp"),
        "coordinator": User.objects.get(username="coordinator"),
        "derm": derm,
        "transport": transport,
        "dermatologist": staff("dermatologist", derm),
        "driver": staff("transportdesk", transport, role="hub_staff"),
        "patient": fresh_patient(at_gp_practice=True),
    }
