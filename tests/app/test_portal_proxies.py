# ruff: noqa: F811 (portal_provider, the fixture imported from portal_world, is each test's argument)
"""Carers and proxies: a patient invites a carer with scopes, start, expiry and reason; the
carer signs in with their own NHS login and accepts the code; what they may do is the scopes
(checked through records' relationship model, kind ``proxy``), everything they do is
audited as the proxy on behalf of the patient, and the patient or the practice revokes it.
The practice grants after its checks. Child record access ages are data."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from portal_world import portal_provider, sign_in  # noqa: F401 (the fixture)

from wraparound.apps.portal import proxies, session
from wraparound.apps.portal.models import PortalSession, Proxy
from wraparound.apps.records import relationships
from wraparound.apps.records.models import AuditEvent, Patient

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def invite(client, scopes, days="30"):
    response = client.post(
        "/portal/proxies",
        {
            "action": "invite",
            "name": "Megan",
            "relationship": "daughter",
            "scopes": scopes,
            "days": days,
            "reason": "helps me with appointments",
        },
    )
    assert response.status_code == 200, response.content.decode()[-600:]
    return re.search(r'id="invite-code">([^<]+)<', response.content.decode()).group(1)


def test_carer_with_appointments_scope_sees_appointments_not_the_record(client, portal_provider):
    a, carer = portal_provider.patients["a"], portal_provider.patients["carer"]
    sign_in(client, portal_provider, "a")
    bad = client.post("/portal/proxies", {"action": "invite", "name": "x", "scopes": []})
    assert bad.status_code == 400 and not Proxy.objects.filter(patient=a).exists()
    code = invite(client, ["appointments"])
    grant = Proxy.objects.get(patient=a)
    assert (grant.scopes, grant.source, grant.accepted_at) == (["appointments"], "patient", None)
    assert grant.expiry == timezone.localdate() + dt.timedelta(days=30)
    client.post("/portal/sign-out")

    sign_in(client, portal_provider, "carer")
    assert client.post("/portal/proxies/accept", {"code": "wrong"}).status_code == 400
    assert client.post("/portal/proxies/accept", {"code": code}).status_code == 302
    grant.refresh_from_db()
    assert grant.proxy_nhs_number == carer.nhs_number and grant.accepted_at
    home = client.get("/portal/").content.decode()
    assert "You are acting for" in home and str(a) in home
    assert client.get("/portal/appointments").status_code == 200
    for url in (
        "/portal/record",
        "/portal/care-plan",
        "/portal/who-looked",
        "/portal/record/fhir",
        "/portal/proxies",
    ):
        assert client.get(url).status_code == 403, url
    rows = AuditEvent.objects.filter(patient=a, role="proxy")
    assert rows.filter(what__startswith="portal: my appointments", outcome="allowed").exists()
    assert rows.filter(outcome="denied").exists()
    assert all(carer.nhs_number in r.username and "(proxy)" in r.username for r in rows)
    assert all(f"as proxy #{grant.pk}" in r.what for r in rows)
    # The carer can switch back to their own record.
    client.post("/portal/act-for", {"for": "self"})
    s = PortalSession.objects.filter(nhs_number=carer.nhs_number, ended_at=None).latest("pk")
    assert s.acting_for_id == carer.pk
    client.post("/portal/act-for", {"for": str(grant.pk)})

    # The patient sees the proxy's reads and revokes the access.
    other = client.__class__()
    sign_in(other, portal_provider, "a")
    page = other.get("/portal/who-looked").content.decode()
    assert "Your proxy, in the portal" in page
    other.post("/portal/proxies", {"action": "revoke", "proxy": grant.pk})
    grant.refresh_from_db()
    assert grant.revoked_at and grant.revoked_by.startswith("the patient")
    # The carer is back on their own record, and sees nothing of A's.
    assert str(a) not in client.get("/portal/appointments").content.decode()


def test_record_scope_needs_the_proxy_to_be_p9_and_a_relationship(portal_provider):
    a, carer = portal_provider.patients["a"], portal_provider.patients["carer"]
    grant = Proxy.objects.create(
        patient=a,
        proxy_nhs_number=carer.nhs_number,
        proxy_name="M",
        relationship="daughter",
        scopes=["record", "appointments"],
        start=timezone.localdate(),
        expiry=timezone.localdate() + dt.timedelta(days=5),
        reason="r",
        source="practice",
        accepted_at=timezone.now(),
    )
    for level, expected in (
        ("P9", {"record", "download", "appointments"}),
        ("P5", {"appointments"}),
    ):
        s = PortalSession(nhs_number=carer.nhs_number, level=level, sub="x")
        assert session.proxy_capabilities(s, grant) == expected
    s = PortalSession(nhs_number=carer.nhs_number, level="P9", sub="x")
    probe = session.Principal(s, a, grant, frozenset())
    assert relationships.first_allowing(probe, a, "proxy.record").kind == "proxy"
    # The portal asks only proxy.* actions, which only the proxy kind allows: so only the
    # proxy provider is ever asked about a portal principal, and staff never hold one.
    kinds = relationships.policy().kinds
    assert all(x.startswith("proxy.") for x in kinds["proxy"]["actions"])
    assert not any(
        x.startswith("proxy.") for k, spec in kinds.items() if k != "proxy" for x in spec["actions"]
    )
    # Expired: no relationship, no capability.
    Proxy.objects.filter(pk=grant.pk).update(expiry=timezone.localdate() - dt.timedelta(days=1))
    grant.refresh_from_db()
    assert session.proxy_capabilities(s, grant) == frozenset()


def test_practice_grants_after_checks_and_revokes(client, login, portal_provider):
    a, carer = portal_provider.patients["a"], portal_provider.patients["carer"]
    staff = login("coordinator")
    url = reverse("portal_admin", args=[a.pk])
    form = {
        "action": "grant",
        "name": "Megan",
        "nhs_number": carer.nhs_number,
        "relationship": "daughter",
        "scopes": ["appointments", "care_plan"],
        "days": "365",
        "reason": "lasting power of attorney",
    }
    assert staff.post(url, form).status_code == 400  # no checks recorded
    assert staff.post(url, {**form, "checks": "ID seen", "days": "9999"}).status_code == 400
    assert not Proxy.objects.filter(patient=a).exists()
    assert staff.post(url, {**form, "checks": "photo ID and LPA seen"}).status_code == 302
    grant = Proxy.objects.get(patient=a)
    assert grant.source == "practice" and grant.granted_by.username == "coordinator"
    assert AuditEvent.objects.filter(patient=a, username="coordinator", action="write").exists()
    staff.logout()
    sign_in(client, portal_provider, "carer")
    client.post("/portal/act-for", {"for": str(grant.pk)})
    assert client.get("/portal/care-plan").status_code == 200
    assert client.get("/portal/record").status_code == 403
    staff = login("coordinator")
    staff.post(url, {"action": "revoke", "proxy": grant.pk})
    grant.refresh_from_db()
    assert grant.revoked_by.startswith("the practice")


def test_child_access_ages_are_data():
    today = dt.date(2026, 12, 2)

    def child(years):
        return Patient(birth_date=dt.date(today.year - years, 1, 1))

    assert proxies.child_policy(child(8), today)["stage"] == "parent"
    assert proxies.child_policy(child(11), today)["stage"] == "review"
    assert proxies.child_policy(child(15), today)["stage"] == "review"
    assert proxies.child_policy(child(16), today)["stage"] == "adult"
    assert proxies.child_policy(Patient(birth_date=None), today)["stage"] == "adult"
