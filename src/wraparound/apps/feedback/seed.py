"""Demo Friends and Family Test history: some months of anonymous responses at every
touchpoint, and the offers due now (``make demo``, through ``apps/demo.py``).

Deterministic (a fixed seed). Per month and practice, a few dozen responses spread over the
touchpoints: hub appointments (the practice's neighbourhood hub), care-plan reviews (the
practice), discharges (a trust of the locality, by name) and referrals seen (a directory
service, when the referrals app has its directory). Answers follow a typical FFT spread
(about 85% positive); about one in four has a comment, from a fixed list that names nobody.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from wraparound.apps.feedback.content import fft
from wraparound.apps.feedback.models import Response
from wraparound.apps.feedback.offers import make_offers
from wraparound.apps.records.models import Organisation

SPREAD = {"very_good": 62, "good": 22, "neither": 5, "poor": 4, "very_poor": 2, "dont_know": 5}
COMMENTS = {
    True: [
        "Seen quickly and the clinician explained everything.",
        "Friendly staff and an evening appointment that suited me.",
        "Everyone knew my plan, I did not have to repeat myself.",
    ],
    False: [
        "I waited a long time past my appointment time.",
        "Hard to get through on the phone.",
        "Nobody told me what would happen next.",
    ],
}


def _months(n: int, today: dt.date) -> list[dt.date]:
    first = today.replace(day=1)
    out = []
    for i in range(n):
        total = first.year * 12 + first.month - 1 - i
        out.append(dt.date(total // 12, total % 12 + 1, 1))
    return out


def seed_demo(months: int = 6, seed: int = 15, until: dt.date | None = None) -> dict:
    """``months`` months of responses up to the month of ``until`` (default today): the demo
    passes the synthetic data's last day, so the scorecard's ``fft_share_positive``, which
    reports only months inside the data, has them to count."""
    rng = random.Random(seed)
    content = fft()
    practices = list(Organisation.objects.filter(kind="practice").order_by("org_id"))
    hubs = {h.parent_id: h for h in Organisation.objects.filter(kind="hub").order_by("org_id")}
    trusts = list(Organisation.objects.filter(kind="trust").order_by("org_id")) or [None]
    services = []
    try:
        from wraparound.apps.referrals.models import Service

        services = [s.org for s in Service.objects.select_related("org").order_by("service_id")[:8]]
    except Exception:
        services = []
    answers, weights = zip(*SPREAD.items(), strict=True)
    rows = []
    for month in _months(months, until or timezone.localdate()):
        for practice in practices:
            hub = hubs.get(practice.parent_id)
            for _ in range(rng.randint(15, 45)):
                touch = rng.choice(list(content.touchpoints))
                if touch == "hub_appointment" and hub is not None:
                    service, code, name, at_hub = hub, hub.org_id, hub.name, hub
                elif touch == "referral_seen" and services:
                    org = rng.choice(services)
                    service, code, name, at_hub = org, org.org_id, org.name, None
                elif touch == "discharge":
                    trust = rng.choice(trusts)
                    name = trust.name if trust else "Hospital"
                    service, code, name, at_hub = None, f"name:{name}", name, None
                else:
                    touch = "care_plan_review"
                    service, code, name, at_hub = practice, practice.org_id, practice.name, None
                answer = rng.choices(answers, weights)[0]
                text = {}
                if rng.random() < 0.25:
                    text = {"why": rng.choice(COMMENTS[answer in content.positive])}
                rows.append(
                    Response(
                        touchpoint=touch,
                        service_code=code,
                        service_name=name,
                        service_org=service,
                        practice=practice,
                        hub=at_hub,
                        month=month,
                        answer=answer,
                        free_text=text,
                        fft_version=content.version,
                    )
                )
    Response.objects.bulk_create(rows, batch_size=2000)
    offers = make_offers()
    return {
        "responses": len(rows),
        "offers": sum(offers["created"].values()),
        "sent": offers["sent"],
    }
