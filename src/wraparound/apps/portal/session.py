"""Patient sessions, apart from staff sessions, and the gate every portal page goes through.

A portal session lives in its own cookie (``wraparound_portal``, path ``/portal/``, HTTP-only),
holding a random key whose SHA-256 is a ``PortalSession`` row: Django's staff session and
``request.user`` are never read here, and a portal session never signs anyone in to the staff
app (the staff login wall, web/headers.py, lets /portal/ through to this gate only). A
session ends after ``WRAPAROUND_PORTAL_SESSION_MINUTES`` without a request, or on sign-out.

:func:`portal_view` loads the session and the *principal*: who is signed in, whose record
they act on (their own, or a patient's as a proxy) and what they may do there: the
capabilities of their proofing level (``data/portal/proofing.toml``), and as a proxy only
those that the proxy relationship's scopes allow (checked through records' one relationship
model, kind ``proxy``). Every request to a page that reads the record is audited once, as the
patient or as the proxy on behalf of the patient.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import secrets

from django.shortcuts import redirect, render
from django.utils import timezone

from wraparound import config
from wraparound.apps.portal import rules
from wraparound.apps.portal.models import PortalSession, Proxy
from wraparound.apps.records import relationships
from wraparound.apps.records.models import AuditEvent

COOKIE = "wraparound_portal"
COOKIE_PATH = "/portal/"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class _ProxyRole:
    """What records' relationship model asks of whoever holds a relationship. A proxy is
    not staff; only the ``proxy`` kind's provider answers for one (its actions are its own)."""

    direct_care: bool = True
    label: str = "Proxy (carer)"


@dataclasses.dataclass
class Principal:
    session: PortalSession
    patient: object  # whose record: the signed-in person's own, or the one they act for
    proxy: Proxy | None
    capabilities: frozenset[str]

    role_info = _ProxyRole()

    @property
    def is_proxy(self) -> bool:
        return self.proxy is not None

    @property
    def username(self) -> str:
        who = f"nhs-login:{self.session.nhs_number or self.session.sub}"
        return f"{who} (proxy)" if self.is_proxy else who

    @property
    def role(self) -> str:
        return "proxy" if self.is_proxy else "patient"

    @property
    def basis(self) -> str:
        return "proxy" if self.is_proxy else "own record"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


def proxy_provider(user, patient, now):
    """Records' ``proxy`` relationships: the active grants a portal principal holds."""
    if not isinstance(user, Principal):
        return
    today = timezone.localdate(now)
    for p in Proxy.objects.filter(
        patient=patient,
        proxy_nhs_number=user.session.nhs_number,
        revoked_at__isnull=True,
        accepted_at__isnull=False,
        start__lte=today,
        expiry__gte=today,
    ):
        yield relationships.Relationship(
            "proxy",
            source=f"proxy for {p.relationship} ({p.get_source_display().lower()}) #{p.pk}",
            source_basis=p.source,
            start=p.start,
            end=p.expiry,
        )


def active_proxies(nhs_number: str, today: dt.date | None = None):
    today = today or timezone.localdate()
    return Proxy.objects.filter(
        proxy_nhs_number=nhs_number,
        revoked_at__isnull=True,
        accepted_at__isnull=False,
        start__lte=today,
        expiry__gte=today,
    ).select_related("patient")


def proxy_capabilities(session: PortalSession, proxy: Proxy) -> frozenset[str]:
    """A proxy's capabilities: their own level's, limited to what the scopes allow, each
    scope confirmed by records' relationship model."""
    own = rules.capabilities(session.level)
    probe = Principal(session, proxy.patient, proxy, frozenset())
    allowed: set[str] = set()
    for scope in proxy.scopes:
        if relationships.first_allowing(probe, proxy.patient, f"proxy.{scope}"):
            allowed |= rules.SCOPE_CAPABILITIES.get(scope, set())
    return frozenset(own & allowed)


def start(response, identity, patient, level: str) -> PortalSession:
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    session = PortalSession.objects.create(
        key_digest=digest(key),
        sub=identity.sub,
        nhs_number=identity.nhs_number,
        level=level,
        vot=identity.vot[:40],
        name=f"{identity.given_name} {identity.family_name}".strip()[:200],
        patient=patient,
        acting_for=patient,
        last_seen_at=now,
    )
    response.set_cookie(
        COOKIE,
        key,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=config.current().production,
    )
    return session


def end(request, response) -> None:
    found = _session(request)
    if found is not None:
        PortalSession.objects.filter(pk=found.pk).update(ended_at=timezone.now())
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def _session(request) -> PortalSession | None:
    key = request.COOKIES.get(COOKIE)
    if not key:
        return None
    found = (
        PortalSession.objects.filter(key_digest=digest(key), ended_at__isnull=True)
        .select_related("patient", "acting_for", "acting_for__practice")
        .first()
    )
    if found is None:
        return None
    now = timezone.now()
    idle = dt.timedelta(minutes=config.current().portal_session_minutes)
    if now - found.last_seen_at > idle:
        PortalSession.objects.filter(pk=found.pk).update(ended_at=now)
        return None
    # Written at most once a minute: a page load need not always write.
    if now - found.last_seen_at > dt.timedelta(seconds=60):
        PortalSession.objects.filter(pk=found.pk).update(last_seen_at=now)
    return found


def principal(request) -> Principal | None:
    session = _session(request)
    if session is None or session.acting_for_id is None:
        return None
    if session.acting_for_id == session.patient_id:
        return Principal(session, session.acting_for, None, rules.capabilities(session.level))
    proxy = active_proxies(session.nhs_number).filter(patient_id=session.acting_for_id).first()
    if proxy is None:  # revoked or expired since: back to their own record, if any
        PortalSession.objects.filter(pk=session.pk).update(acting_for=session.patient)
        if session.patient_id is None:
            return None
        return Principal(session, session.patient, None, rules.capabilities(session.level))
    return Principal(session, proxy.patient, proxy, proxy_capabilities(session, proxy))


def audit(request, who: Principal, action: str, what: str, outcome: str = "allowed"):
    """One audit row, as the patient, or as the proxy on behalf of the patient."""
    if who.is_proxy:
        what = f"{what} (as proxy #{who.proxy.pk}, {who.proxy.relationship})"
    return AuditEvent.objects.create(
        user=None,
        username=who.username[:150],
        role=who.role,
        patient=who.patient,
        action=action,
        what=f"portal: {what}"[:200],
        basis=who.basis,
        outcome=outcome,
        method=request.method or "",
        path=request.get_full_path()[:300],
    )


def no_store(response):
    response["Cache-Control"] = "no-store"
    return response


def portal_view(capability: str | None = None, what: str = "", methods=("GET", "HEAD")):
    """Decorate a portal view ``(request, who, ...)``: a signed-in principal who may do
    ``capability``, else the sign-in page or a refusal (403). With ``what``, every request
    that reaches the view is audited once (a read, or a write for POST)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            who = principal(request)
            if who is None:
                return no_store(redirect("portal_home"))
            if request.method not in methods:
                response = render(
                    request,
                    "portal/refused.html",
                    {"who": who, "reason": "That cannot be done here."},
                    status=405,
                )
                return no_store(response)
            if capability and not who.can(capability):
                if what:
                    audit(request, who, "denied", f"{what}: not allowed", outcome="denied")
                label = rules.proofing()["capabilities"].get(capability, capability)
                response = render(
                    request,
                    "portal/refused.html",
                    {
                        "who": who,
                        "reason": f"You cannot {label} with this sign-in.",
                        "level_label": rules.proofing()["level"]
                        .get(who.session.level, {})
                        .get("label", who.session.level),
                    },
                    status=403,
                )
                return no_store(response)
            request.portal = who
            try:
                return no_store(view(request, who, *args, **kwargs))
            finally:
                if what:
                    audit(request, who, "write" if request.method == "POST" else "read", what)

        wrapper.portal_view = True
        return wrapper

    return decorate
