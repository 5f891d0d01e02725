"""Signing in and out of the portal through the OpenID Connect provider (NHS login, or the
local provider in the demo and tests), and the portal's public key."""

from __future__ import annotations

import secrets

from django.core import signing
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from wraparound import config
from wraparound.apps.portal import oidc, rules, session
from wraparound.apps.portal.models import PortalSession
from wraparound.apps.records.models import AuditEvent, Patient

LOGIN_COOKIE = "wraparound_portal_login"
LOGIN_SALT = "wraparound.portal.login"
LOGIN_MAX_AGE = 600


def _problem(request, title: str, detail: str, status: int = 403):
    response = render(
        request, "portal/sign_in_problem.html", {"title": title, "detail": detail}, status=status
    )
    response.delete_cookie(LOGIN_COOKIE, path=session.COOKIE_PATH)
    return session.no_store(response)


def _audit_sign_in(request, identity, patient, outcome: str, what: str) -> None:
    AuditEvent.objects.create(
        username=f"nhs-login:{identity.nhs_number or identity.sub}"[:150],
        role="patient",
        patient=patient,
        action="login" if outcome == "allowed" else "login_failed",
        what=f"portal sign-in: {what}"[:200],
        outcome=outcome,
        basis="own record" if patient else "",
        method=request.method or "",
        path=request.path[:300],
    )


def redirect_uri(request) -> str:
    return request.build_absolute_uri(reverse("portal_callback"))


@require_GET
def sign_in(request):
    """Send the browser to the provider, with state, nonce and a PKCE verifier kept in a
    short-lived signed cookie."""
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    try:
        url = oidc.authorization_url(redirect_uri(request), state, nonce, verifier)
    except oidc.SignInError as exc:
        # A clear page, not a server error: the provider is down, not the portal.
        return _problem(
            request, "NHS login is not available just now", f"Try again later ({exc}).", 200
        )
    response = redirect(url)
    response.set_signed_cookie(
        LOGIN_COOKIE,
        signing.dumps({"state": state, "nonce": nonce, "verifier": verifier}, salt=LOGIN_SALT),
        salt=LOGIN_SALT,
        max_age=LOGIN_MAX_AGE,
        path=session.COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=config.current().production,
    )
    return session.no_store(response)


@require_GET
def callback(request):
    """The provider's answer: check the state, exchange the code, verify the ID token, read
    userinfo, match the NHS number, and start a portal session."""
    try:
        kept = signing.loads(
            request.get_signed_cookie(LOGIN_COOKIE, salt=LOGIN_SALT, max_age=LOGIN_MAX_AGE),
            salt=LOGIN_SALT,
        )
    except (KeyError, signing.BadSignature):
        return _problem(
            request, "Your sign-in has expired", "Start again from the portal's home page.", 400
        )
    if request.GET.get("error"):
        return _problem(request, "You were not signed in", "NHS login did not sign you in.")
    if not secrets.compare_digest(request.GET.get("state", ""), kept["state"]):
        return _problem(request, "Your sign-in could not be checked", "Start again.", 400)
    code = request.GET.get("code", "")
    if not code:
        return _problem(request, "Your sign-in could not be checked", "Start again.", 400)
    try:
        identity = oidc.complete(redirect_uri(request), code, kept["verifier"], kept["nonce"])
    except oidc.SignInError as exc:
        return _problem(request, "Your sign-in could not be checked", str(exc))
    level = identity.level
    if not rules.level_known(level) or not rules.capabilities(level):
        _audit_sign_in(request, identity, None, "denied", f"proofing level {level}")
        return _problem(
            request,
            "Your identity has not been checked yet",
            "To use the portal, NHS login needs to check who you are first (P5 or P9). "
            "You can do this in NHS login.",
        )
    if not identity.nhs_number:
        _audit_sign_in(request, identity, None, "denied", "no NHS number")
        return _problem(
            request,
            "We could not find your record",
            "NHS login did not tell us your NHS number. Contact your GP practice.",
        )
    matches = list(Patient.objects.filter(nhs_number=identity.nhs_number)[:2])
    patient = matches[0] if len(matches) == 1 else None
    proxies = list(session.active_proxies(identity.nhs_number)[:1])
    if patient is None and not proxies:
        _audit_sign_in(request, identity, None, "denied", "NHS number not matched")
        return _problem(
            request,
            "We could not find your record",
            "Your NHS number does not match a patient of a practice using this service. "
            "Contact your GP practice.",
        )
    response = redirect("portal_home")
    response.delete_cookie(LOGIN_COOKIE, path=session.COOKIE_PATH)
    started = session.start(response, identity, patient, level)
    if patient is None:  # a carer who is not a patient here: straight to who they act for
        PortalSession.objects.filter(pk=started.pk).update(acting_for=proxies[0].patient)
    _audit_sign_in(request, identity, patient, "allowed", f"level {level}, vot {identity.vot}")
    return session.no_store(response)


@require_POST
def sign_out(request):
    response = redirect("portal_home")
    session.end(request, response)
    return session.no_store(response)


@require_GET
def jwks(request):
    """The portal's public key: what the provider checks its client assertions with."""
    return JsonResponse(oidc.public_jwks())
