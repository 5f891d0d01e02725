"""Which staff can be named for a patient: users whose scope covers the patient's practice."""

from __future__ import annotations

from django.db.models import Q

from wraparound.apps.records.models import User


def staff_for(patient, roles: tuple[str, ...] | None = None):
    users = User.objects.filter(
        Q(scope="locality")
        | Q(scope="neighbourhood", scope_org_id=patient.neighbourhood_id)
        | Q(scope="practice", scope_org_id=patient.practice_id),
        is_active=True,
    )
    if roles:
        users = users.filter(role__in=roles)
    return users.order_by("last_name", "first_name")
