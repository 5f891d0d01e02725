"""Proxy access: a patient invites a carer, or the practice grants access after its checks;
either may revoke it. The scopes, the longest grant and the child ages are data
(``data/portal/proxy.toml``).

An invitation gives the patient a one-time code (only its SHA-256 is kept) to pass to the
carer, who signs in with their own NHS login and enters it: the grant then holds their NHS
number. A grant is a ``proxy`` relationship in records' relationship model (``session.py``
registers its provider); what the proxy may do is the scopes, no more than their own
proofing level allows.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.utils import timezone

from wraparound.apps.portal import rules
from wraparound.apps.portal.models import Proxy
from wraparound.apps.portal.session import digest


class ProxyError(ValueError):
    """A proxy request refused, in plain words (nothing was written)."""


def age(patient, today: dt.date | None = None) -> int | None:
    if not patient.birth_date:
        return None
    today = today or timezone.localdate()
    b = patient.birth_date
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def child_policy(patient, today: dt.date | None = None) -> dict:
    """What the national child-access ages say for this patient now (as data)."""
    c = rules.proxy_rules()["child"]
    years = age(patient, today)
    if years is None or years >= c["own_access_from"]:
        stage = "adult"
    elif years < c["parent_access_under"]:
        stage = "parent"
    elif c["review_from"] <= years <= c["review_to"]:
        stage = "review"
    else:
        stage = "adult"
    return {"age": years, "stage": stage, **c}


def _read(post, today: dt.date) -> dict:
    known = rules.proxy_rules()["scopes"]
    scopes = [s for s in post.getlist("scopes") if s in known]
    name = (post.get("name") or "").strip()[:200]
    relationship = (post.get("relationship") or "").strip()[:100]
    reason = (post.get("reason") or "").strip()[:300]
    try:
        days = int(post.get("days") or 90)
    except ValueError:
        raise ProxyError("Say for how many days, as a number.") from None
    longest = rules.proxy_rules()["max_days"]
    if not scopes:
        raise ProxyError("Choose at least one thing the carer may do.")
    if not name or not relationship or not reason:
        raise ProxyError("Give the carer's name, how they are related to you, and why.")
    if not 1 <= days <= longest:
        raise ProxyError(f"Proxy access lasts from 1 to {longest} days.")
    return {
        "scopes": scopes,
        "proxy_name": name,
        "relationship": relationship,
        "reason": reason,
        "start": today,
        "expiry": today + dt.timedelta(days=days),
    }


def invite(who, post) -> tuple[Proxy, str]:
    if who.is_proxy:
        raise ProxyError("Only the patient can invite a carer.")
    today = timezone.localdate()
    data = _read(post, today)
    code = secrets.token_urlsafe(12)
    proxy = Proxy.objects.create(
        patient=who.patient, source="patient", invite_digest=digest(code), **data
    )
    return proxy, code


def grant(user, patient, post, nhs_number: str, checks: str) -> Proxy:
    """The practice grants proxy access after its identity checks (``checks`` says which)."""
    if not checks.strip():
        raise ProxyError("Record the checks made before granting proxy access.")
    if not (nhs_number.isdigit() and len(nhs_number) == 10):
        raise ProxyError("The proxy's NHS number is 10 digits.")
    if nhs_number == patient.nhs_number:
        raise ProxyError("A patient cannot be their own proxy.")
    today = timezone.localdate()
    data = _read(post, today)
    return Proxy.objects.create(
        patient=patient,
        source="practice",
        granted_by=user,
        checks=checks.strip()[:300],
        proxy_nhs_number=nhs_number,
        accepted_at=timezone.now(),
        **data,
    )


def accept(portal_session, code: str) -> Proxy:
    if not code:
        raise ProxyError("Enter the code the patient gave you.")
    with transaction.atomic():
        proxy = (
            Proxy.objects.select_for_update()
            .filter(invite_digest=digest(code), accepted_at__isnull=True, revoked_at__isnull=True)
            .select_related("patient")
            .first()
        )
        if proxy is None or proxy.expiry < timezone.localdate():
            raise ProxyError("That code is not valid. Ask the patient for a new invitation.")
        if proxy.patient.nhs_number == portal_session.nhs_number:
            raise ProxyError("You cannot accept your own invitation.")
        proxy.proxy_nhs_number = portal_session.nhs_number
        proxy.accepted_at = timezone.now()
        proxy.invite_digest = ""
        proxy.save()
    return proxy


def revoke(patient, proxy_id: int, by: str) -> Proxy:
    proxy = Proxy.objects.get(pk=proxy_id, patient=patient, revoked_at__isnull=True)
    proxy.revoked_at = timezone.now()
    proxy.revoked_by = by[:200]
    proxy.save(update_fields=["revoked_at", "revoked_by"])
    return proxy
