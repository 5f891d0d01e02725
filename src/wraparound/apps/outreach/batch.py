"""Batch invitations from a call list, throttled to free hub capacity (``capacity.py``).

``send_batch`` takes the entries still ``to_contact`` of the current build of a cohort,
within the practices given, in list order, up to the smaller of ``limit`` and the capacity
available in each entry's neighbourhood, and sends each patient the cohort's invitation
through the messaging app (``outreach_invitation``, purpose ``outreach``). Messaging honours
the rest: the patient's preferred channel and refusals, reasonable adjustments (easy read,
large print, interpreter), and the national data opt-out where the purpose is not direct
care; a message it could not send is recorded as ``undeliverable`` with its reason, and the
entry is left for a phone call. Every message is a :class:`ContactAttempt` and one audit row
for its patient.
"""

from __future__ import annotations

from wraparound.apps.outreach import capacity
from wraparound.apps.outreach.cohorts import get
from wraparound.apps.outreach.models import CallListEntry, CohortBuild, ContactAttempt
from wraparound.apps.records import audit

TEMPLATE = "outreach_invitation"
PURPOSE = "outreach"


class BatchError(ValueError):
    """The batch cannot be sent (no list, or messaging missing)."""


def send_batch(request, cohort_id: str, practice_ids, limit: int) -> dict:
    from wraparound.apps.messaging.api import send_message

    cohort = get(cohort_id)
    build = CohortBuild.objects.filter(cohort_id=cohort.id, current=True).first()
    if build is None:
        raise BatchError(f"{cohort.title}: no call list has been built yet")
    waiting = CallListEntry.objects.filter(
        build=build, state="to_contact", practice_id__in=practice_ids
    )
    room: dict[str, int] = {}
    sent = undeliverable = 0
    neighbourhoods = sorted(
        n for n in set(waiting.values_list("neighbourhood_id", flat=True)) if n is not None
    )
    for nb in neighbourhoods:
        room[nb] = capacity.available(nb)["available"]
        take = min(room[nb], limit - sent - undeliverable)
        if take <= 0:
            continue
        chosen = waiting.filter(neighbourhood_id=nb).select_related("patient", "practice")
        for entry in chosen.order_by("pk")[:take]:
            message = send_message(
                patient=entry.patient,
                template=TEMPLATE,
                personalisation={
                    "practice": entry.practice.name if entry.practice else "Your GP practice",
                    "what": cohort.what,
                    "how_to_book": cohort.how_to_book,
                },
                purpose=PURPOSE,
                sender=request.user,
                reference=f"outreach-{build.pk}",
            )
            ok = message.status == "sent"
            ContactAttempt.objects.create(
                entry=entry,
                by=request.user,
                method="message",
                channel=message.channel or "",
                outcome="sent" if ok else "undeliverable",
                message_id=message.pk,
                note="" if ok else (message.reason or "")[:300],
            )
            entry.state = "messaged" if ok else "undeliverable"
            entry.save(update_fields=["state", "updated_at"])
            audit.record(
                request,
                patient=entry.patient,
                action="write",
                what=f"outreach invitation ({cohort.id}): {'sent' if ok else 'undeliverable'}",
                basis="registered",
            )
            if ok:
                sent += 1
                room[nb] -= 1
            else:
                undeliverable += 1
    still_to_contact = waiting.filter(state="to_contact").count()
    return {
        "sent": sent,
        "undeliverable": undeliverable,
        "still_to_contact": still_to_contact,
        "room": room,
    }
