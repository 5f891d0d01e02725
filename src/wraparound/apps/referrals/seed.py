"""The demo's directory and a year of referral history (``wraparound app demo``, through
``apps/demo.py``): the reviewed directory file imported, a provider account for the
Dudley dermatology service (``dermatology``, the demo password) and one for patient
transport (``transport``), and about 25 referrals a year per 1,000 patients spread over the
specialist services, each walked along the machine's transitions (``transitions.toml``) with
seeded choices: most sent for advice first, about a third of advice avoiding a referral,
answers inside or past the service's days; a redirected one goes on at another specialist
service (``redirected_from``), as ``machine.apply``'s redirect does. Written in bulk (rows
and events), so 50,000 patients seed in a few seconds. Seeded, and skipped when referrals
exist (the demo run twice)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from django.db import transaction
from django.utils import timezone

from wraparound.apps.records.models import Patient, User
from wraparound.apps.referrals import directory, rules, timers
from wraparound.apps.referrals.machine import IDENTIFIER_PREFIX
from wraparound.apps.referrals.models import Referral, ReferralEvent, Service

SEED = 1414
PER_1000 = 25
PROVIDERS = (
    ("dermatology", "Nadia", "Karim", "dud-derm"),
    ("transport", "Ben", "Ames", "dud-transport"),
)
SPECIALIST = ("dud-derm", "dud-ophth", "dud-rheum", "dud-uro", "dud-ent", "dud-msk")
# How the history walks: from each state, the chance of each next transition (by code).
PATHS = {
    "draft": {"request_advice": 0.85, "refer": 0.15},
    "advice_requested": {"give_advice": 0.95, "provider_convert": 0.05},
    "advice_given": {"accept_advice": 0.35, "convert": 0.6, "withdraw": 0.05},
    "awaiting_triage": {"accept": 0.85, "redirect": 0.05, "reject": 0.1},
    "accepted": {"book": 1.0},
    "booked": {"see": 1.0},
    "seen": {"discharge": 1.0},
}


def _providers(password: str) -> list[User]:
    users = []
    locality = User.objects.get(username="commissioner").scope_org
    for username, first, last, sid in PROVIDERS:
        service = Service.objects.get(service_id=sid)
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": "hub_clinician" if username == "dermatology" else "hub_staff",
                "scope": "locality",
                "scope_org": locality,
                "service": service.org,
            },
        )
        user.set_password(password)
        user.save()
        users.append(user)
    return users


def _walk(rng, m, service, state, at, today):
    """Walk the history from ``state`` by PATHS until a closed state or today."""
    steps = []
    while state in PATHS:
        code = rng.choices(list(PATHS[state]), weights=list(PATHS[state].values()))[0]
        t = m.transition(code)
        if t.guard == "service_takes_advice" and not service.takes("advice_and_guidance"):
            t = m.transition("refer")
        days = rng.choice((0, 1, 1, 2, 3, 4, 6, 9)) if t.by == "provider" else rng.randint(0, 5)
        nxt = at + dt.timedelta(days=days, hours=rng.randint(0, 6))
        if nxt.date() > today:
            break
        steps.append((t, state, nxt))
        at, state = nxt, t.to
        if state == "referred":
            steps.append((m.transition("receive"), "referred", at))
            state = "awaiting_triage"
    return state, at, steps


def _referral(m, rng, pk, practice, service, gp, state, start, at, steps, came_from):
    spec = m.state(state)
    due = None
    if spec.timer:
        days = (
            getattr(service, f"{spec.timer}_days") or rules.limits()["timers"][f"{spec.timer}_days"]
        )
        due = timers.add_working_days(at.date(), days)
    return Referral(
        machine="referral",
        patient_id=pk,
        service=service,
        state=state,
        open=spec.open,
        referrer=gp,
        referrer_org_id=practice,
        specialty=service.specialty,
        reason="Demo referral",
        red_flag=steps[0][0].code == "refer" if steps else False,
        created_at=start,
        state_since=at,
        due=due,
        outcome_reason=next((c for c in ("criteria_not_met",) if state == "rejected"), ""),
        identifier=f"{IDENTIFIER_PREFIX}{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
        redirected_from=came_from,
    )


def seed(password: str, today: dt.date | None = None) -> dict[str, int]:
    counts = directory.import_demo()
    users = _providers(password)
    if Referral.objects.exists():
        return {"services": sum(counts.values()), "referrals": 0, "providers": len(users)}
    today = today or timezone.localdate()
    rng = random.Random(SEED)
    m = rules.machine("referral")
    services = list(Service.objects.filter(service_id__in=SPECIALIST))
    provider_of = {u.service_id: u for u in users}
    gp = User.objects.get(username="gp")
    patients = list(
        Patient.objects.filter(death_date=None, practice__isnull=False)
        .order_by("pk")
        .values_list("pk", "practice_id")
    )
    n = len(patients) * PER_1000 // 1000
    refs, paths = [], []
    for _ in range(n):
        pk, practice = rng.choice(patients)
        service = rng.choice(services)
        start = timezone.make_aware(
            dt.datetime.combine(today - dt.timedelta(days=rng.randint(0, 364)), dt.time(9))
        ) + dt.timedelta(minutes=rng.randint(0, 480))
        state, at, steps = _walk(rng, m, service, m.initial, start, today)
        refs.append(_referral(m, rng, pk, practice, service, gp, state, start, at, steps, None))
        paths.append((start, steps, provider_of.get(service.org_id)))
    with transaction.atomic():
        Referral.objects.bulk_create(refs, batch_size=2000)
        # A redirected one goes on at another service (as machine.apply's redirect does):
        # received there at once, then walked on from triage.
        onward, onward_paths = [], []
        redirect = m.transition("redirect")
        for ref in refs:
            if ref.state != "redirected":
                continue
            service = rng.choice([s for s in services if s.pk != ref.service_id])
            at = ref.state_since
            state, end, more = _walk(rng, m, service, "awaiting_triage", at, today)
            first = [(redirect, "", at), (m.transition("receive"), "referred", at), *more]
            new = _referral(
                m, rng, ref.patient_id, ref.referrer_org_id, service, gp, state, at, end, first, ref
            )
            onward.append(new)
            onward_paths.append((at, first, provider_of.get(service.org_id)))
        Referral.objects.bulk_create(onward, batch_size=2000)
        events = []
        for ref, (start, steps, provider) in zip(refs + onward, paths + onward_paths, strict=True):
            if ref.redirected_from_id is None:
                events.append(
                    ReferralEvent(
                        referral=ref, at=start, by=gp, transition="create", to_state="draft"
                    )
                )
            for t, before, at in steps:
                by = None if t.by == "system" else (provider if t.by == "provider" else gp)
                reason = (
                    next(iter(rules.reasons().get(t.code, {})), "") if "reason" in t.needs else ""
                )
                into_new = t.creates and before == ""  # the onward referral's first step
                if into_new:  # taken by the service that redirected it
                    by = provider_of.get(ref.redirected_from.service.org_id)
                events.append(
                    ReferralEvent(
                        referral=ref,
                        at=at,
                        by=by,
                        transition=f"{t.code}_in" if into_new else t.code,
                        from_state=before,
                        to_state=t.creates if into_new else t.to,
                        reason_code=reason,
                    )
                )
        ReferralEvent.objects.bulk_create(events, batch_size=5000)
    return {
        "services": sum(counts.values()),
        "referrals": len(refs) + len(onward),
        "providers": len(users),
    }
