# ruff: noqa: F811 (portal_provider, the fixture imported from portal_world, is each test's argument)
"""Signing in to the portal as NHS login does it, against the local OpenID Connect provider
over real HTTP (portal_world.py): redirect, the provider's sign-in, authorization code, token
by private_key_jwt, ID token verified against the provider's JWKS, userinfo. The proofing
level decides what the patient may do; an unknown NHS number, no NHS number and P0 are
refused with a clear page; a tampered or unsigned client assertion or ID token is refused;
portal and staff sessions never stand in for each other; a session times out."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse

import pytest
import requests
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import RSAKey
from portal_world import portal_provider, sign_in  # noqa: F401 (the fixture)

from wraparound import config
from wraparound.apps.portal import oidc
from wraparound.apps.portal.models import PortalSession
from wraparound.apps.records.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_p9_patient_signs_in_and_reads_their_record(client, portal_provider):
    a = portal_provider.patients["a"]
    response = sign_in(client, portal_provider, "a")
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert response["Location"] == "/portal/"
    assert "wraparound_portal" in response.cookies
    assert response.cookies["wraparound_portal"]["path"] == "/portal/"
    assert response.cookies["wraparound_portal"]["httponly"]
    s = PortalSession.objects.get(nhs_number=a.nhs_number, ended_at=None)
    assert (s.level, s.vot, s.patient_id) == ("P9", "P9.Cp.Cd", a.pk)
    home = client.get("/portal/")
    assert home.status_code == 200 and "Your record" in home.content.decode()
    record = client.get("/portal/record")
    assert record.status_code == 200
    assert AuditEvent.objects.filter(
        patient=a, role="patient", what="portal: my record", action="read"
    ).exists()
    assert AuditEvent.objects.filter(patient=a, action="login", role="patient").exists()
    # Signed in to the portal is not signed in to the staff app.
    staff = client.get("/caseload/")
    assert staff.status_code == 302 and staff["Location"].startswith("/login/")
    # Signing out ends the session.
    client.post("/portal/sign-out")
    assert client.get("/portal/record").status_code == 302
    assert PortalSession.objects.get(pk=s.pk).ended_at is not None


def test_p5_sees_appointments_not_the_record(client, portal_provider):
    a = portal_provider.patients["a"]
    assert sign_in(client, portal_provider, "a_p5").status_code == 302
    assert client.get("/portal/appointments").status_code == 200
    assert client.get("/portal/feedback").status_code == 200
    for url in (
        "/portal/record",
        "/portal/care-plan",
        "/portal/who-looked",
        "/portal/record/fhir",
        "/portal/record/print",
        "/portal/proxies",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "P9" in response.content.decode()
    assert AuditEvent.objects.filter(patient=a, outcome="denied", role="patient").exists()


@pytest.mark.parametrize(
    ("who", "title"),
    [("unknown", "We could not find your record"), ("p0", "Your identity has not been checked")],
)
def test_refused_with_a_clear_page(client, portal_provider, who, title):
    response = sign_in(client, portal_provider, who)
    assert response.status_code == 403
    assert title in response.content.decode()
    assert "wraparound_portal" not in response.cookies
    assert client.get("/portal/record").status_code == 302


def test_state_and_code_are_checked(client, portal_provider):
    start = client.get("/portal/sign-in")
    from portal_world import provider_login

    back = provider_login(start["Location"], portal_provider.accounts["a"]["email"])
    query = urllib.parse.parse_qs(urllib.parse.urlparse(back).query)
    forged = client.get("/portal/callback", {"code": query["code"][0], "state": "forged"})
    assert forged.status_code == 400
    # No login cookie at all (another browser): a clear 400, nothing started.
    client.cookies.pop("wraparound_portal_login", None)
    replay = client.get("/portal/callback", {"code": query["code"][0], "state": query["state"][0]})
    assert replay.status_code == 400
    assert not PortalSession.objects.filter(
        nhs_number=portal_provider.patients["a"].nhs_number, ended_at=None
    ).exists()


def _token_request(portal_provider, assertion: str | None, code: str = "x"):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://testserver/portal/callback",
        "client_id": config.current().portal_oidc_client_id,
    }
    if assertion is not None:
        data.update(
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            client_assertion=assertion,
        )
    return requests.post(portal_provider.url + "/token/", data=data, timeout=10)


def test_provider_refuses_a_bad_client_assertion(portal_provider):
    token_url = portal_provider.url + "/token/"
    cid = config.current().portal_oidc_client_id
    now = int(time.time())
    claims = {"iss": cid, "sub": cid, "aud": token_url, "exp": now + 60, "jti": "t-1", "iat": now}
    stranger = RSAKey.generate_key(2048)
    refused = {
        "no assertion": None,
        "unsigned": ".".join(jwt.encode({"alg": "RS256"}, claims, stranger).split(".")[:2]) + ".",
        "signed by another key": jwt.encode({"alg": "RS256"}, claims, stranger),
        "client secret instead": "",
    }
    good = jwt.encode({"alg": "RS256"}, claims, oidc.client_key())
    tampered = good.split(".")
    import base64
    import json

    body = json.loads(base64.urlsafe_b64decode(tampered[1] + "=="))
    body["sub"] = "someone-else"
    tampered[1] = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    refused["tampered claims"] = ".".join(tampered)
    expired = dict(claims, exp=now - 120, jti="t-2")
    refused["expired"] = jwt.encode({"alg": "RS256"}, expired, oidc.client_key())
    wrong_aud = dict(claims, aud="http://elsewhere/token/", jti="t-3")
    refused["wrong audience"] = jwt.encode({"alg": "RS256"}, wrong_aud, oidc.client_key())
    for name, assertion in refused.items():
        response = _token_request(portal_provider, assertion)
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_client", name
    # A good assertion is accepted as client authentication (the code itself is bogus).
    response = _token_request(portal_provider, good)
    assert response.json()["error"] == "invalid_grant"
    # ... and cannot be replayed.
    assert _token_request(portal_provider, good).json()["error"] == "invalid_client"


def test_portal_refuses_a_tampered_or_unsigned_id_token(portal_provider):
    cid = config.current().portal_oidc_client_id
    now = int(time.time())
    claims = {
        "iss": portal_provider.url,
        "aud": cid,
        "sub": "1",
        "exp": now + 60,
        "iat": now,
        "nonce": "n",
        "nhs_number": "9999999999",
    }
    stranger = RSAKey.generate_key(2048)
    forged = jwt.encode({"alg": "RS256"}, claims, stranger)
    with pytest.raises(oidc.SignInError):
        oidc.verify_id_token(forged, "n")
    unsigned = ".".join(forged.split(".")[:2]) + "."
    with pytest.raises(oidc.SignInError):
        oidc.verify_id_token(unsigned, "n")
    import base64
    import json

    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")
    with pytest.raises(oidc.SignInError):
        oidc.verify_id_token(header + "." + forged.split(".")[1] + ".", "n")
    with pytest.raises(oidc.SignInError):
        oidc.verify_id_token("not a token", "n")


def test_staff_session_does_not_open_the_portal(client, login, portal_provider):
    login("gp")
    response = client.get("/portal/record")
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert "Continue with NHS login" in client.get("/portal/").content.decode()


def test_session_times_out(client, portal_provider):
    assert sign_in(client, portal_provider, "a").status_code == 302
    s = PortalSession.objects.filter(ended_at=None).latest("pk")
    idle = config.current().portal_session_minutes
    PortalSession.objects.filter(pk=s.pk).update(
        last_seen_at=timezone.now() - dt.timedelta(minutes=idle + 1)
    )
    assert client.get("/portal/appointments").status_code == 302
    assert PortalSession.objects.get(pk=s.pk).ended_at is not None
