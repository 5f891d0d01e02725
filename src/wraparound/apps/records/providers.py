"""The relationships the records app holds the records of: registration with a practice in
the user's scope, bookings and referrals to the user's service (from the warehouse, dated in
the data: ``Referral``, each in its kind's window and ended by the load when its source row
goes), and break-glass. Registered with ``relationships.register_provider`` from
``RecordsConfig.ready()``."""

from __future__ import annotations

from wraparound.apps.records.models import BreakGlass, Referral
from wraparound.apps.records.relationships import Relationship, register_provider


def registered(user, patient, now):
    if user.role_info.practice_list and user.covers_practice(patient.practice):
        yield Relationship(
            "registered",
            source=f"registration with {patient.practice}",
            source_basis="registration feed",
        )


def _service(kind: str):
    def provider(user, patient, now):
        if not user.service_id:
            return
        for ref in Referral.objects.filter(
            patient=patient, service_id=user.service_id, kind=kind, ended_at__isnull=True
        ).select_related("service"):
            # Dated in the data: the gate judges it on the today for data and narrows it to
            # the kind's window around ``on`` whatever ``end`` says.
            yield Relationship(
                kind,
                source=f"{kind} to {ref.service} on {ref.on:%Y-%m-%d} ({ref.source_id})",
                source_basis="warehouse load",
                start=ref.on,
                end=ref.end,
                on=ref.on,
                data_clock=True,
            )

    provider.__name__ = f"{kind}_provider"
    return provider


booking = _service("booking")
referral = _service("referral")


def break_glass(user, patient, now):
    for grant in BreakGlass.objects.filter(
        user=user, patient=patient, at__lte=now, expires_at__gt=now
    ).order_by("-at"):
        yield Relationship(
            "break_glass",
            source=f"break-glass by {user.username} ({grant.reason_code or 'no code'})",
            source_basis="break_glass",
            start=grant.at,
            end=grant.expires_at,
        )


def register() -> None:
    register_provider("registered", registered)
    register_provider("booking", booking)
    register_provider("referral", referral)
    register_provider("break_glass", break_glass)
