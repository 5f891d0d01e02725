"""The portal's demo: NHS login accounts for patients of the demo locality at P9 and P5, a
carer holding proxy access (appointments only) for the P9 patient, and the seed file the
local provider loads (``wraparound idp serve --seed WRAPAROUND_VAR/idp-seed.json``, as
``make demo`` runs it): the portal as its client, with the portal's public key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.utils import timezone

from wraparound import config
from wraparound.apps.care.models import CarePlan, CareTeamMember
from wraparound.apps.portal import oidc
from wraparound.apps.portal.models import Proxy
from wraparound.apps.records.models import Patient

DEMO_BASE_URL = "http://127.0.0.1:8000"


def seed_path() -> Path:
    return config.current().var / "idp-seed.json"


def _pick() -> tuple[Patient, Patient, Patient]:
    with_plan = CarePlan.objects.filter(
        patient__in=CareTeamMember.objects.filter(active=True).values("patient")
    ).values("patient")
    p9 = (
        Patient.objects.filter(pk__in=with_plan, death_date=None).order_by("pk").first()
        or Patient.objects.filter(death_date=None, practice__isnull=False).order_by("pk").first()
    )
    others = Patient.objects.filter(practice=p9.practice, death_date=None).exclude(pk=p9.pk)
    p5, carer = list(others.order_by("pk")[:2])
    return p9, p5, carer


def _account(email: str, patient: Patient, level: str, password: str) -> dict:
    return {
        "email": email,
        "password": password,
        "nhs_number": patient.nhs_number,
        "level": level,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birthdate": patient.birth_date.isoformat() if patient.birth_date else None,
    }


def create_demo_portal(password: str, base_url: str = DEMO_BASE_URL) -> list[dict]:
    """Write the provider's seed and the carer's proxy grant; return the logins to print."""
    p9, p5, carer = _pick()
    today = timezone.localdate()
    Proxy.objects.get_or_create(
        patient=p9,
        proxy_nhs_number=carer.nhs_number,
        defaults={
            "proxy_name": str(carer),
            "relationship": "daughter",
            "scopes": ["appointments"],
            "start": today,
            "expiry": today + dt.timedelta(days=365),
            "reason": "demo: helps with appointments",
            "source": "practice",
            "checks": "demo: identity and consent checked at the practice",
            "accepted_at": timezone.now(),
        },
    )
    logins = [
        {**_account("patient.p9@example.org", p9, "P9", password), "note": f"{p9} (P9: record)"},
        {
            **_account("patient.p5@example.org", p5, "P5", password),
            "note": f"{p5} (P5: appointments and feedback only)",
        },
        {
            **_account("carer@example.org", carer, "P9", password),
            "note": f"{carer}, proxy for {p9} (appointments only)",
        },
    ]
    seed = {
        "clients": [
            {
                "client_id": config.current().portal_oidc_client_id,
                "redirect_uris": [
                    f"{base_url}/portal/callback",
                    base_url.replace("127.0.0.1", "localhost") + "/portal/callback",
                ],
                "jwks": oidc.public_jwks(),
            }
        ],
        "accounts": [{k: v for k, v in a.items() if k != "note"} for a in logins],
    }
    path = seed_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(seed, indent=2))
    return logins
