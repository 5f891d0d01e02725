"""The demo's triage queue (``wraparound app demo``): a year of answered requests for the
response-time indicator, and today's open ones on the demo practice's queue and review queue
(no emergency, so a journey's own red flag is the one at the top). Seeded patients get a
demo mobile number, so answers reach the outbox."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from wraparound.apps.messaging.api import set_preferences
from wraparound.apps.records.models import Patient, User
from wraparound.apps.triage import rules
from wraparound.apps.triage.intake import create_request
from wraparound.apps.triage.models import TriageAction, TriageRequest

HISTORY = 80
SEED = 14


def _answers(form_id: str, **given) -> dict:
    form = rules.forms()[form_id]
    out = {}
    for q in form.questions:
        if q.id in given:
            out[q.id] = given[q.id]
        elif q.kind == "yesno":
            out[q.id] = "no"
        elif q.kind == "choice":
            out[q.id] = q.options[0]
        elif q.required:
            out[q.id] = "Demo request"
    return out


def seed_demo() -> dict[str, int]:
    if TriageRequest.objects.exists():
        return {"requests": TriageRequest.objects.count()}
    rng = random.Random(SEED)
    gp = User.objects.get(username="gp")
    practice = gp.scope_org
    people = list(
        Patient.objects.filter(practice=practice, opted_out=False, death_date=None).order_by("pk")[
            : HISTORY + 10
        ]
    )
    if len(people) < 10:
        return {"requests": 0}
    forms = rules.forms()
    now = timezone.now()
    with transaction.atomic():
        for i, patient in enumerate(people[:HISTORY]):
            form_id = ("physiotherapy", "online_consultation", "talking_therapies")[i % 3]
            answers = _answers(form_id, request="Please can I have a review of my medicines")
            req = create_request(
                form=forms[form_id],
                answers=answers,
                kind="online_consultation" if form_id == "online_consultation" else "self_referral",
                source="portal" if form_id == "online_consultation" else "public_form",
                match="known" if form_id == "online_consultation" else "matched",
                patient=patient,
            )
            received = now - dt.timedelta(days=rng.randint(7, 360), hours=rng.randint(0, 8))
            responded = received + dt.timedelta(days=rng.choice((0, 1, 1, 2, 3, 5)))
            TriageRequest.objects.filter(pk=req.pk).update(
                received_at=received,
                first_response_at=responded,
                status="closed",
                closed_at=responded,
            )
            TriageAction.objects.create(request=req, user=gp, action="close", note="demo history")
        today = people[HISTORY:]
        for patient in today[:3]:
            set_preferences(
                patient, phone="07700900" + f"{patient.pk % 1000:03d}", source="identity"
            )
        create_request(
            form=forms["talking_therapies"],
            answers=_answers(
                "talking_therapies", suicidal_thoughts="yes", description="Low for weeks"
            ),
            kind="self_referral",
            source="public_form",
            match="matched",
            patient=today[0],
        )
        create_request(
            form=forms["online_consultation"],
            answers=_answers("online_consultation", request="A fit note for my employer, please"),
            kind="online_consultation",
            source="portal",
            match="known",
            patient=today[1],
            category="admin",
        )
        create_request(
            form=forms["physiotherapy"],
            answers=_answers(
                "physiotherapy", description="Knee pain after running", problem_area="Knee"
            ),
            kind="self_referral",
            source="public_form",
            match="matched",
            patient=today[2],
        )
        stranger = today[3]
        create_request(
            form=forms["counselling"],
            answers=_answers("counselling"),
            kind="self_referral",
            source="public_form",
            match="ambiguous",
            practice=practice,
            identity={
                "given_name": stranger.given_name,
                "family_name": stranger.family_name,
                "birth_date": stranger.birth_date.isoformat() if stranger.birth_date else "",
                "postcode": "",
                "phone": "07700900999",
                "email": "",
                "nhs_number": "",
                "practice": practice.pk,
                "candidates": [stranger.pk],
            },
        )
    return {"requests": TriageRequest.objects.count()}
