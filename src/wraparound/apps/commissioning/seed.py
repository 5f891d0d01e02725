"""Demo governance for ``wraparound app demo``: three decision-makers, a GP's declared
interest in the local QOF scheme, and the decision adopting the demo scheme with that GP
excluded and the others approving (the model checks it as it would any entry). Idempotent."""

from __future__ import annotations

import datetime as dt

from wraparound.analytics.local_qof import scheme as schemes
from wraparound.apps.commissioning.models import Attendance, Decision, Interest, Member
from wraparound.apps.records.models import User


def seed_governance() -> dict[str, int]:
    plan = schemes.current()
    gp, _ = Member.objects.get_or_create(name="Dr Asha Patel", defaults={"kind": "gp"})
    lay, _ = Member.objects.get_or_create(name="Morag Field", defaults={"kind": "lay"})
    officer, _ = Member.objects.get_or_create(name="Lee Carter", defaults={"kind": "officer"})
    Interest.objects.get_or_create(
        member=gp,
        kind="scheme",
        subject=plan.id,
        defaults={
            "description": "GP partner at a practice paid under the local QOF",
            "declared_on": dt.date(plan.year, 1, 15),
        },
    )
    recorder = User.objects.filter(role="commissioner").order_by("pk").first()
    if recorder is not None and not Decision.objects.filter(subject=plan.id).exists():
        decision = Decision.objects.create(
            kind="scheme",
            subject=plan.id,
            title=f"Adopt {plan.title}, version {plan.version}",
            detail="Rolls the locality's priorities into a local QOF; payment as QOF.",
            decided_on=dt.date(plan.year, 3, 10),
            outcome="approved",
            recorded_by=recorder,
        )
        Attendance.objects.create(decision=decision, member=gp, excluded=True)
        Attendance.objects.create(decision=decision, member=lay, approved=True)
        Attendance.objects.create(decision=decision, member=officer, approved=True)
    return {"members": Member.objects.count(), "decisions": Decision.objects.count()}
