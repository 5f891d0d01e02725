"""The relationships the referrals app holds the records of, registered with the one
relationship model (``records.relationships``) from ``ReferralsConfig.ready()``.

A referral or request is a relationship for the receiving service (staff whose
``User.service`` is the directory service's organisation) for as long as it is open: the
kind is the one its state names in ``data/referrals/transitions.toml``
(``referral_advice`` while advice is asked and given, ``referral_triage`` while it waits
for triage, ``referral_care`` once accepted, booked or seen), and what each kind allows is
in ``data/relationships.toml``. A closed referral (advice accepted, rejected, redirected,
discharged, withdrawn) holds none. Nothing created under break-glass creates one: only a
referrer with ``referral.create`` makes a referral (the views' gate), and the gate refuses
that action under break-glass.
"""

from __future__ import annotations

import functools
import operator

from django.db.models import Q

from wraparound.apps.records.relationships import Relationship, register_provider
from wraparound.apps.referrals import rules
from wraparound.apps.referrals.models import Referral


def _states_of(kind: str) -> dict[str, list[str]]:
    return {
        code: [s.code for s in m.states.values() if s.relationship == kind]
        for code, m in rules.machines().items()
    }


@functools.cache  # one function per kind, so registering twice (tests reload apps) is harmless
def provider_for(kind: str):
    def provider(user, patient, now):
        if not user.service_id:
            return
        wanted = {machine: states for machine, states in _states_of(kind).items() if states}
        if not wanted:
            return
        # One query for every machine (the gate asks each kind on every request), then in the
        # rules' machine order, oldest first within a machine.
        which = functools.reduce(
            operator.or_, (Q(machine=m, state__in=states) for m, states in wanted.items())
        )
        found = (
            Referral.objects.filter(
                which, patient=patient, service__org_id=user.service_id, created_at__lte=now
            )
            .select_related("service")
            .order_by("pk")
        )
        order = list(wanted)
        for ref in sorted(found, key=lambda r: order.index(r.machine)):
            yield Relationship(
                kind,
                source=f"{ref.get_machine_display().lower()} {ref.identifier} to "
                f"{ref.service} ({rules.machine(ref.machine).state(ref.state).label.lower()})",
                source_basis="referral",
                start=ref.created_at,
            )

    provider.__name__ = f"{kind}_provider"
    return provider


def kinds() -> list[str]:
    return sorted(
        {s.relationship for m in rules.machines().values() for s in m.states.values()} - {""}
    )


def register() -> None:
    for kind in kinds():
        register_provider(kind, provider_for(kind))
