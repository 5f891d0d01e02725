"""Friends and Family Test offers: found at the touchpoints, sent through messaging, listed
for the patient portal.

The touchpoints are data (``data/feedback/fft.toml``, ``[[touchpoints]]``); each names a
``source`` the app watches:

- ``access_appointment_seen``: a hub appointment seen or finished (access app); the service
  is the hub;
- ``referral_seen``: a referral that reached the state ``seen`` (referrals app); the
  service is the receiving directory service;
- ``discharge_alert``: a discharge from hospital as loaded from the warehouse into the app
  (care's ``discharge`` alerts); the service is the discharging provider, by name;
- ``care_plan_reviewed``: a care-plan version agreed again after an earlier agreement (care);
  the service is the patient's practice.

:func:`make_offers` creates at most one offer per touchpoint and event (re-running adds
nothing) for events inside the touchpoint's ``within_days``, for living patients, and sends
each through :func:`send_unsent`, its link absolute on ``WRAPAROUND_PUBLIC_BASE_URL``. An
offer's token is random (``secrets``), says nothing about the patient, and works once, until
it expires.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from wraparound import config
from wraparound.apps.feedback.content import fft
from wraparound.apps.feedback.models import Offer
from wraparound.apps.records.models import Patient

TOKEN_BYTES = 24  # 32 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def pending_for(patient: Patient, now: dt.datetime | None = None) -> list[Offer]:
    """The patient's open Friends and Family Test offers, newest first, for the portal.

    Each :class:`~wraparound.apps.feedback.models.Offer` has ``touchpoint`` (its code) and
    ``touchpoint_label`` (e.g. "After a hub appointment"), ``service_name`` and ``url``
    (``/feedback/<token>``, the same one-time link the message carried). Only offers not yet
    used and not expired are listed; using one (answering) removes it.
    """
    now = now or timezone.now()
    return list(
        Offer.objects.filter(patient=patient, used=False, expires_at__gt=now).order_by(
            "-offered_at", "-pk"
        )
    )


# --- finding touchpoints ---------------------------------------------------------------------


def _hub_appointments(since: dt.datetime):
    from wraparound.apps.access.models import Appointment

    found = Appointment.objects.filter(
        status__in=("seen", "finished"), start__gte=since
    ).select_related("hub__organisation", "patient")
    for a in found:
        org = a.hub.organisation
        yield {
            "patient": a.patient,
            "source_key": f"appointment:{a.pk}",
            "service_code": org.org_id,
            "service_name": org.name,
            "service_org": org,
            "hub": org,
            "at": a.seen_at or a.start,
        }


def _referrals_seen(since: dt.datetime):
    """Referrals that reached the state ``seen`` (the referrals app's state machine,
    ``data/referrals/transitions.toml``), whatever state they are in now; the service is the
    directory service's organisation."""
    from wraparound.apps.referrals.models import ReferralEvent

    found = ReferralEvent.objects.filter(to_state="seen", at__gte=since).select_related(
        "referral__patient", "referral__service__org"
    )
    for event in found:
        referral = event.referral
        org = referral.service.org
        yield {
            "patient": referral.patient,
            "source_key": f"referral:{referral.pk}",
            "service_code": org.org_id,
            "service_name": referral.service.name,
            "service_org": org,
            "hub": None,
            "at": event.at,
        }


def _discharges(since: dt.datetime):
    from wraparound.apps.care.models import Alert

    for a in Alert.objects.filter(kind="discharge", occurred_at__gte=since).select_related(
        "patient"
    ):
        name = a.org_name or "Hospital"
        yield {
            "patient": a.patient,
            "source_key": f"discharge:{a.encounter_id}"[:100],
            "service_code": f"name:{name}"[:80],
            "service_name": name,
            "service_org": None,
            "hub": None,
            "at": a.occurred_at,
        }


def _care_plan_reviews(since: dt.datetime):
    from wraparound.apps.care.models import CarePlanVersion

    versions = (
        CarePlanVersion.objects.filter(agreed=True, agreed_on__isnull=False)
        .select_related("plan__patient__practice")
        .order_by("plan_id", "agreed_on", "number")
    )
    first: dict[int, dt.date] = {}
    for v in versions:
        plan = v.plan_id
        if plan not in first:
            first[plan] = v.agreed_on
            continue
        if v.agreed_on <= first[plan]:
            continue
        at = timezone.make_aware(dt.datetime.combine(v.agreed_on, dt.time(12)))
        if at < since:
            continue
        patient = v.plan.patient
        practice = patient.practice
        yield {
            "patient": patient,
            "source_key": f"care_plan:{plan}:{v.agreed_on.isoformat()}",
            "service_code": practice.org_id if practice else "name:care team",
            "service_name": practice.name if practice else "Care team",
            "service_org": practice,
            "hub": None,
            "at": at,
        }


SOURCES = {
    "access_appointment_seen": _hub_appointments,
    "referral_seen": _referrals_seen,
    "discharge_alert": _discharges,
    "care_plan_reviewed": _care_plan_reviews,
}


def make_offers(now: dt.datetime | None = None, send: bool = True) -> dict:
    """Create the offers due at every touchpoint; returns counts by touchpoint, and how
    many messages were sent (``send_unsent``)."""
    now = now or timezone.now()
    content = fft()
    created: dict[str, int] = {}
    for tp in content.touchpoints.values():
        since = now - dt.timedelta(days=tp.within_days)
        existing = set(
            Offer.objects.filter(touchpoint=tp.code).values_list("source_key", flat=True)
        )
        n = 0
        for event in SOURCES[tp.source](since):
            patient = event["patient"]
            if event["source_key"] in existing or patient.death_date is not None:
                continue
            existing.add(event["source_key"])
            try:
                with transaction.atomic():
                    Offer.objects.create(
                        token=new_token(),
                        patient=patient,
                        touchpoint=tp.code,
                        source_key=event["source_key"],
                        service_code=event["service_code"],
                        service_name=event["service_name"][:200],
                        service_org=event["service_org"],
                        practice=patient.practice,
                        hub=event["hub"],
                        offered_at=now,
                        expires_at=now + dt.timedelta(days=content.valid_days),
                    )
            except IntegrityError:  # made by a concurrent run
                continue
            n += 1
        created[tp.code] = n
    sent = send_unsent(now) if send else {"sent": 0, "not_sent": 0}
    return {"created": created, **sent}


def send_unsent(now: dt.datetime | None = None) -> dict:
    """Send every open offer not yet sent through the messaging app (its template is data:
    ``[offer] template``). Until the messaging app is installed the offers wait, listed for
    the portal all the same."""
    now = now or timezone.now()
    try:
        from wraparound.apps.messaging.api import send_message
    except ImportError:
        waiting = Offer.objects.filter(message_sent=False, used=False, expires_at__gt=now)
        return {"sent": 0, "not_sent": waiting.count()}
    content = fft()
    # The link is read in a text message or an email, outside the app: absolute, on the
    # public address. Asked once, before any offer, so a refused address (config.public_url)
    # stops the run with its own message instead of failing every offer one by one.
    public_url = config.current().public_url
    public_url("/")
    sent = failed = 0
    waiting = Offer.objects.filter(message_sent=False, used=False, expires_at__gt=now)
    for offer in waiting.select_related("patient"):
        try:
            send_message(
                patient=offer.patient,
                template=content.template,
                personalisation={"service": offer.service_name, "link": public_url(offer.url)},
                purpose=content.purpose,
            )
        except Exception:
            failed += 1
            continue
        Offer.objects.filter(pk=offer.pk).update(message_sent=True)
        sent += 1
    return {"sent": sent, "not_sent": failed}
