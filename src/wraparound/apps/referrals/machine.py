"""The one writer of a referral's state: :func:`create` and :func:`apply`.

Every move is checked against ``data/referrals/transitions.toml`` (``rules.machines()``):
the transition must leave the referral's current state, the actor must be on the side the
transition names (``referrer``: the user who made it or staff of the organisation it was
made from; ``provider``: staff of the receiving service), its guard must hold and it must
carry what it ``needs`` (a reason from ``reasons.toml``, a message, a letter, another
directory service for a step that ``creates`` a new item there). Anything else
is a :class:`TransitionError` whose message says what was refused and what is possible, and
nothing is written. A move writes a :class:`ReferralEvent`, restarts the service-level
timer (``due``) for the new state, takes the ``auto`` transitions that follow, and, given
the request, leaves an audit row naming the step (``records.audit``).

A step that ``creates`` (the provider's redirect) also opens the new referral to the named
service in the same transaction: the same patient, referrer, question, urgency and red flag,
``redirected_from`` the old one (whose attachments it carries), in the state the data names
and through its ``auto`` steps, so it waits in the new service's triage queue and that
service holds the relationship its state names, while the old one, closed, holds none.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.utils import timezone

from wraparound.apps.records import audit
from wraparound.apps.referrals import directory, rules, timers
from wraparound.apps.referrals.models import Attachment, Message, Referral, ReferralEvent, Service

IDENTIFIER_PREFIX = "wrap-sr-"


class TransitionError(ValueError):
    """A move the state machine refuses, in words for the page or the command line."""


def side_of(user, referral: Referral) -> str | None:
    """``provider`` for the receiving service's staff, ``referrer`` for the referrer and
    staff of the organisation the referral was made from, else None."""
    if user is None:
        return None
    if user.service_id and user.service_id == referral.service.org_id:
        return "provider"
    if user.pk == referral.referrer_id or user.scope_org_id == referral.referrer_org_id:
        return "referrer"
    return None


def _guard(name: str, referral: Referral) -> str | None:
    """None when the guard holds, else why not."""
    service = referral.service
    if name == "red_flag_or_no_advice":
        if referral.red_flag or not service.takes("advice_and_guidance"):
            return None
        return (
            f"{service} takes advice and guidance first: send it for advice, or record a "
            "red flag to refer straight away"
        )
    if name == "provider_may_convert":
        if service.provider_may_convert:
            return None
        return f"{service} is not authorised to convert advice requests into referrals"
    if name == "service_takes_advice":
        if service.takes("advice_and_guidance"):
            return None
        return f"{service} does not offer advice and guidance"
    raise TransitionError(f"unknown guard {name!r}")


def _due(service: Service, state: rules.State, start: dt.date) -> dt.date | None:
    if not state.timer:
        return None
    days = getattr(service, f"{state.timer}_days")
    if days is None:
        days = rules.limits()["timers"][f"{state.timer}_days"]
    return timers.add_working_days(start, days)


def _enter(referral: Referral, state: str, at: dt.datetime) -> None:
    spec = rules.machine(referral.machine).state(state)
    referral.state = state
    referral.open = spec.open
    referral.state_since = at
    referral.due = _due(referral.service, spec, timezone.localdate(at))


def available(referral: Referral, user) -> list[rules.Transition]:
    """The transitions ``user`` may take now (guards holding), for the page's buttons."""
    side = side_of(user, referral)
    out = []
    for t in rules.machine(referral.machine).leaving(referral.state):
        if t.by == side and not (t.guard and _guard(t.guard, referral)):
            out.append(t)
    return out


def create(
    *,
    patient,
    service: Service,
    referrer,
    reason: str,
    machine: str = "referral",
    specialty: str = "",
    urgency: str = "routine",
    red_flag: bool = False,
    at: dt.datetime | None = None,
    identifier: str | None = None,
    request=None,
) -> Referral:
    """A new referral (state ``draft``) or request (state ``requested``) from ``referrer``
    (whose scope organisation is the referring organisation)."""
    if machine not in rules.machines():
        raise TransitionError(f"unknown kind of request {machine!r}")
    if not reason.strip():
        raise TransitionError("say what the referral is for")
    wanted = (
        ("advice_and_guidance", "referral") if machine == "referral" else ("referral", "bookable")
    )
    if not any(service.takes(r) for r in wanted):
        raise TransitionError(f"{service} takes no {' or '.join(wanted).replace('_', ' ')}")
    if service.capacity == "closed":
        raise TransitionError(f"{service} is not accepting requests at present")
    at = at or timezone.now()
    m = rules.machine(machine)
    with transaction.atomic():
        referral = Referral(
            machine=machine,
            patient=patient,
            service=service,
            referrer=referrer,
            referrer_org_id=referrer.scope_org_id,
            specialty=specialty or service.specialty,
            reason=reason.strip(),
            urgency=urgency,
            red_flag=red_flag,
            created_at=at,
            identifier=identifier or f"{IDENTIFIER_PREFIX}{uuid.uuid4().hex[:16]}",
        )
        _enter(referral, m.initial, at)
        referral.save()
        ReferralEvent.objects.create(
            referral=referral, at=at, by=referrer, transition="create", to_state=m.initial
        )
        _autos(referral, at)
        if request is not None:
            audit.record(
                request,
                patient=patient,
                action="write",
                what=f"{referral.get_machine_display().lower()} {referral.identifier} "
                f"to {service} created",
                basis=getattr(request, "access_basis", ""),
            )
    return referral


def _autos(referral: Referral, at: dt.datetime) -> None:
    for t in rules.machine(referral.machine).leaving(referral.state):
        if t.auto:
            before = referral.state
            _enter(referral, t.to, at)
            referral.save()
            ReferralEvent.objects.create(
                referral=referral, at=at, transition=t.code, from_state=before, to_state=t.to
            )
            return _autos(referral, at)
    return None


def apply(
    referral: Referral,
    code: str,
    user,
    *,
    reason: str = "",
    message: str = "",
    letter: tuple[str, str, bytes] | None = None,
    service: Service | None = None,
    at: dt.datetime | None = None,
    request=None,
) -> Referral:
    """Take transition ``code`` as ``user``; ``letter`` is ``(name, content_type, bytes)``;
    ``service`` is where a step that ``creates`` sends the new item (None: not found)."""
    m = rules.machine(referral.machine)
    t = m.transition(code)
    state = m.state(referral.state)
    if t is None:
        raise TransitionError(f"there is no step {code!r} for a {referral.get_machine_display()}")
    if referral.state not in t.sources:
        possible = ", ".join(x.label for x in m.leaving(referral.state) if not x.auto)
        raise TransitionError(
            f"{t.label!r} is not possible: the {referral.get_machine_display().lower()} is "
            f"{state.label.lower()}" + (f" (possible now: {possible})" if possible else "")
        )
    side = side_of(user, referral)
    if t.by != side:
        who = "the receiving service" if t.by == "provider" else "the referrer"
        raise TransitionError(f"{t.label!r} is for {who} to do")
    if t.guard and (why := _guard(t.guard, referral)):
        raise TransitionError(why)
    message = message.strip()
    if "reason" in t.needs and reason not in rules.reasons().get(t.code, {}):
        raise TransitionError(f"{t.label!r} needs a reason from the list")
    if "message" in t.needs and not message:
        raise TransitionError(f"{t.label!r} needs a message")
    if "letter" in t.needs and letter is None and not message:
        raise TransitionError(f"{t.label!r} needs the discharge letter (a file or its text)")
    if "service" in t.needs:
        _check_target(t, referral, service)
    at = at or timezone.now()
    with transaction.atomic():
        before = referral.state
        _enter(referral, t.to, at)
        if "reason" in t.needs:
            referral.outcome_reason = reason
        referral.save()
        ReferralEvent.objects.create(
            referral=referral,
            at=at,
            by=user,
            transition=t.code,
            from_state=before,
            to_state=t.to,
            reason_code=reason if "reason" in t.needs else "",
            note=message,
        )
        if message:
            Message.objects.create(referral=referral, at=at, author=user, side=side, text=message)
        if letter is not None:
            name, content_type, data = letter
            Attachment.objects.create(
                referral=referral,
                at=at,
                uploaded_by=user,
                name=name,
                content_type=content_type,
                size=len(data),
                letter=True,
                data=data,
            )
        _autos(referral, at)
        if request is not None:
            audit.record(
                request,
                patient=referral.patient,
                action="write",
                what=f"referral {referral.identifier}: {t.code} ({before} -> {referral.state})",
                basis=getattr(request, "access_basis", ""),
            )
        if t.creates:
            _open_next(referral, t, service, user, reason, at, request)
    return referral


def _check_target(t: rules.Transition, referral: Referral, service: Service | None) -> None:
    """Refuse a step's target service before anything is written: it must be in the
    directory, another service, take referrals, be accepting, and the patient eligible."""
    if service is None:
        raise TransitionError(f"{t.label!r} needs a service from the directory")
    if service.pk == referral.service_id:
        raise TransitionError(f"{t.label!r} needs another service than {service}")
    if not service.takes("referral"):
        raise TransitionError(f"{service} takes no referrals")
    if service.capacity == "closed":
        raise TransitionError(f"{service} is not accepting requests at present")
    if why := directory.eligibility(service, referral.patient):
        raise TransitionError(f"The patient is not eligible for {service}: {'; '.join(why)}")


def _open_next(
    old: Referral, t: rules.Transition, service: Service, user, reason: str, at, request
) -> Referral:
    """The new item a ``creates`` step opens (inside the step's transaction)."""
    new = Referral(
        machine=old.machine,
        patient=old.patient,
        service=service,
        referrer=old.referrer,
        referrer_org_id=old.referrer_org_id,
        specialty=service.specialty or old.specialty,
        reason=old.reason,
        urgency=old.urgency,
        red_flag=old.red_flag,
        created_at=at,
        identifier=f"{IDENTIFIER_PREFIX}{uuid.uuid4().hex[:16]}",
        redirected_from=old,
    )
    _enter(new, t.creates, at)
    new.save()
    words = rules.reasons().get(t.code, {}).get(reason, reason)
    ReferralEvent.objects.create(
        referral=new,
        at=at,
        by=user,
        transition=f"{t.code}_in",
        to_state=t.creates,
        reason_code=reason,
        note=f"from {old.service} ({old.identifier}): {words}",
    )
    _autos(new, at)
    if request is not None:
        audit.record(
            request,
            patient=old.patient,
            action="write",
            what=f"referral {new.identifier} to {service} created by {t.code} of "
            f"{old.identifier} from {old.service}",
            basis=getattr(request, "access_basis", ""),
        )
    return new


def overdue(referral: Referral, today: dt.date | None = None) -> bool:
    return bool(referral.open and referral.due and referral.due < (today or timezone.localdate()))
