"""How many outreach invitations the hubs can take: free hub capacity released to patients in
the coming days (the access app's slots), less the invitations still outstanding.

For one neighbourhood: free slots at the hubs serving it, starting in the next
``DAYS_AHEAD`` days, released to patients by then (``released_to_patients_at`` on or before
the slot's start, or no embargo), less outreach messages sent in the last ``DAYS_AHEAD``
days to the neighbourhood's patients whose entry is still waiting for an answer
(``messaged``): each of those may yet take a slot. Never below zero. A batch sends at most
this many (``batch.py``), so invitations never outrun the appointments to offer.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Q
from django.utils import timezone

from wraparound.apps.access.models import Slot
from wraparound.apps.outreach.models import ContactAttempt

DAYS_AHEAD = 7


def free_slots(neighbourhood_id: str, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    until = now + dt.timedelta(days=DAYS_AHEAD)
    return (
        Slot.objects.filter(
            hub__neighbourhood_id=neighbourhood_id, status="free", start__gte=now, start__lt=until
        )
        .filter(
            Q(released_to_patients_at__isnull=True) | Q(released_to_patients_at__lte=F("start"))
        )
        .count()
    )


def outstanding(neighbourhood_id: str, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return (
        ContactAttempt.objects.filter(
            method="message",
            outcome="sent",
            at__gte=now - dt.timedelta(days=DAYS_AHEAD),
            entry__neighbourhood_id=neighbourhood_id,
            entry__state="messaged",
        )
        .values("entry__patient_id")
        .distinct()
        .count()
    )


def available(neighbourhood_id: str, now: dt.datetime | None = None) -> dict:
    free = free_slots(neighbourhood_id, now)
    waiting = outstanding(neighbourhood_id, now)
    return {"free_slots": free, "outstanding": waiting, "available": max(0, free - waiting)}
