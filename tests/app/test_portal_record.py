# ruff: noqa: F811 (portal_provider, the fixture imported from portal_world, is each test's argument)
"""My record, my care plan, who looked at my record and the downloads, for a patient signed in
through the local OpenID Connect provider (portal_world.py): what is shown, what the
practice hides (by category as data, per item), the patient's additions to the care plan
(versioned; the co-ordinator sees what changed), the audit of every read shown back to the
patient (break-glass marked), the FHIR R4 Bundle validated with fhirclient, and a walk of
every portal URL as patient A with patient B's identifiers (nothing of B shown, nothing of
B changed)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from fhirclient.models.bundle import Bundle
from portal_world import portal_provider, sign_in  # noqa: F401 (the fixture)
from url_map import _walk

from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment, Slot
from wraparound.apps.care.careplan import save_version
from wraparound.apps.portal import rules
from wraparound.apps.portal.models import HiddenItem, PlanContribution, Proxy
from wraparound.apps.records.models import AuditEvent, BreakGlass, User

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _plan(patient):
    author = User.objects.get(username="coordinator")
    nurse = User.objects.get(username="nurse")
    return save_version(
        patient,
        {
            "what_matters": "Walking my dog every morning",
            "goals": "Walk to the park without stopping\nKeep my HbA1c under 58",
            "actions": [
                {
                    "what": "Review inhalers",
                    "owner_id": nurse.pk,
                    "owner": nurse.get_full_name() or nurse.username,
                    "due": "2027-01-10",
                }
            ],
            "escalation": "",
            "contingency": "",
            "out_of_hours": "Call the hub on 0161 000 0000, or NHS 111",
            "review_date": timezone.localdate() + dt.timedelta(days=180),
        },
        author,
    )


def test_my_record_and_what_the_practice_hides(client, portal_provider):
    a = portal_provider.patients["a"]
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/record").content.decode()
    assert str(a.practice) in page
    assert "Named GP" in page and "Care co-ordinator" in page
    for heading in ("Long-term conditions", "Current medicines", "Recent results", "Allergies"):
        assert heading in page
    assert a.conditions, "the test patient is on a register"
    from wraparound.apps.portal.record import _register_names

    first = _register_names().get(a.conditions[0], a.conditions[0])
    assert first in page
    HiddenItem.objects.create(patient=a, category="conditions", item=first, reason="test")
    page = client.get("/portal/record").content.decode()
    assert f"<li>{first}</li>" not in page
    assert "chosen not to show some parts" in page
    # Categories per practice, as data: a practice that shows only appointments.
    data = {
        "categories": {"appointments": "x", "results": "y"},
        "default": {"show": ["appointments", "results"]},
        "practice": {a.practice_id: {"show": ["appointments"]}},
    }
    assert rules.shown_categories(a.practice_id, data) == {"appointments"}
    assert rules.shown_categories("OTHER", data) == {"appointments", "results"}
    with pytest.raises(rules.PortalRulesError):
        rules.check_visibility({"categories": {"a": ""}, "default": {"show": ["b"]}})


def test_care_plan_additions_are_versioned_and_the_coordinator_sees_them(
    client,
    portal_provider,
):
    a = portal_provider.patients["a"]
    version = _plan(a)
    sign_in(client, portal_provider, "a")
    page = client.get("/portal/care-plan").content.decode()
    for text in ("Walking my dog", "Walk to the park", "Review inhalers", "0161 000 0000"):
        assert text in page
    bad = client.post("/portal/care-plan", {"kind": "goal_comment", "goal": "9", "text": "x"})
    assert bad.status_code == 400
    assert client.post("/portal/care-plan", {"kind": "what_matters", "text": ""}).status_code == 400
    assert not PlanContribution.objects.filter(patient=a).exists()
    client.post("/portal/care-plan", {"kind": "what_matters", "text": "My grandchildren"})
    client.post("/portal/care-plan", {"kind": "goal_comment", "goal": "1", "text": "It is 61"})
    rows = list(PlanContribution.objects.filter(patient=a).order_by("number"))
    assert [(r.number, r.kind, r.goal, r.plan_version) for r in rows] == [
        (1, "what_matters", "", version.number),
        (2, "goal_comment", "Keep my HbA1c under 58", version.number),
    ]
    # Each of the four POSTs (two refused, nothing written) is audited once.
    assert (
        AuditEvent.objects.filter(
            patient=a, action="write", role="patient", what="portal: my care plan"
        ).count()
        == 4
    )
    staff = client.__class__()
    staff.post("/login/", {"username": "coordinator", "password": "wraparound-demo-2026"})
    page = staff.get(reverse("portal_admin", args=[a.pk])).content.decode()
    assert "(2 new)" in page and "My grandchildren" in page and "It is 61" in page
    staff.post(reverse("portal_admin", args=[a.pk]), {"action": "seen"})
    assert not PlanContribution.objects.filter(patient=a, seen_at=None).exists()
    assert "seen by your care team" in client.get("/portal/care-plan").content.decode()


def test_who_looked_shows_every_read_and_break_glass(client, login, portal_provider):
    a = portal_provider.patients["a"]
    staff = login("coordinator")
    staff.get(reverse("patient", args=[a.pk]))
    hub_user = User.objects.get(username="hub")
    BreakGlass.objects.create(
        user=hub_user,
        patient=a,
        reason="unconscious at the hub",
        expires_at=timezone.now() + dt.timedelta(minutes=30),
    )
    AuditEvent.objects.create(
        user=hub_user,
        username="hub",
        role=hub_user.role,
        patient=a,
        action="read",
        what="patient page",
        basis="break_glass",
        outcome="allowed",
    )
    staff.logout()
    sign_in(client, portal_provider, "a")
    client.get("/portal/record")
    page = client.get("/portal/who-looked").content.decode()
    coordinator = User.objects.get(username="coordinator")
    assert str(coordinator.service or coordinator.scope_org) in page
    assert "Emergency access (break-glass)" in page
    assert str(hub_user.service or hub_user.scope_org) in page
    assert "You, in the portal" in page  # the patient's own reads are listed too
    assert AuditEvent.objects.filter(patient=a, what="portal: who looked at my record").exists()


def _validate(resource: dict) -> None:
    import importlib

    module = importlib.import_module(f"fhirclient.models.{resource['resourceType'].lower()}")
    getattr(module, resource["resourceType"])(resource, strict=True)


def test_download_fhir_bundle_and_print(client, portal_provider):
    a = portal_provider.patients["a"]
    _plan(a)
    sign_in(client, portal_provider, "a")
    response = client.get("/portal/record/fhir")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    bundle = json.loads(response.content)
    Bundle(bundle, strict=True)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"CarePlan", "CareTeam", "Patient", "Condition"} <= set(kinds)
    for entry in bundle["entry"]:
        _validate(entry["resource"])
    nhs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert nhs[0]["identifier"][0]["value"] == a.nhs_number
    assert AuditEvent.objects.filter(
        patient=a, role="patient", what__startswith="portal: download"
    ).exists()
    page = client.get("/portal/record/print").content.decode()
    assert a.nhs_number_display() in page and "Walking my dog" in page


def _b_world(b):
    """B's identifiers: an appointment, a proxy grant, a contribution."""
    hub = create_hub(User.objects.get(username="hub").service)
    now = timezone.now()
    slot = Slot.objects.create(
        hub=hub,
        site=hub.sites.first(),
        role="gp",
        mode="face_to_face",
        slot_type="routine",
        start=now + dt.timedelta(days=3),
        end=now + dt.timedelta(days=3, minutes=15),
        status="booked",
        released_to_practices_at=now,
        released_to_patients_at=now,
    )
    appt = Appointment.objects.create(
        patient=b,
        hub=hub,
        booking_org=b.practice,
        start=slot.start,
        end=slot.end,
        mode="face_to_face",
        slot_type="routine",
    )
    proxy = Proxy.objects.create(
        patient=b,
        proxy_nhs_number="9990000018",
        proxy_name="B's son",
        relationship="son",
        scopes=["record"],
        start=timezone.localdate(),
        expiry=timezone.localdate(),
        reason="test",
        source="patient",
        accepted_at=now,
    )
    PlanContribution.objects.create(
        patient=b, number=1, kind="what_matters", text="B's secret wish", by_name="B"
    )
    return (
        {"appointment_id": appt.pk, "proxy_id": proxy.pk, "slot_id": slot.pk, "pk": b.pk},
        appt,
        proxy,
    )


def test_patient_a_with_patient_b_identifiers_sees_nothing_of_b(
    client,
    portal_provider,
):
    a, b = portal_provider.patients["a"], portal_provider.patients["b"]
    ids, appt, proxy = _b_world(b)
    sign_in(client, portal_provider, "a")
    b_marks = [
        b.nhs_number,
        b.nhs_number_display(),
        f"{b.given_name} {b.family_name.upper()}",
        "B&#x27;s secret wish",
        "B's secret wish",
        "B&#x27;s son",
        "B's son",
    ]
    urls = [
        u
        for u in _walk(__import__("django.urls").urls.get_resolver().url_patterns)
        if u.route.startswith("portal/")
    ]
    assert len(urls) >= 15
    params = {
        "slot": ids["slot_id"],
        "proxy": ids["proxy_id"],
        "for": ids["proxy_id"],
        "pk": b.pk,
        "patient": b.pk,
        "nhs_number": b.nhs_number,
        "appointment": ids["appointment_id"],
        "kind": "what_matters",
        "text": "x",
        "action": "cancel",
        "goal": "0",
    }
    for url in urls:
        if url.name in ("portal_sign_out", "portal_sign_in", "portal_callback"):
            continue
        target = reverse(url.name, kwargs={p: ids.get(p, b.pk) for p in url.params})
        for method in ("get", "post"):
            response = getattr(client, method)(target, params)
            assert response.status_code < 500, target
            body = response.content.decode(errors="replace")
            for mark in b_marks:
                assert mark not in body, f"{method.upper()} {target} showed {mark!r}"
    appt.refresh_from_db()
    proxy.refresh_from_db()
    assert appt.status == "booked" and proxy.revoked_at is None
    assert not Appointment.objects.filter(patient=b).exclude(pk=appt.pk).exists()
    assert not AuditEvent.objects.filter(patient=b, role__in=("patient", "proxy")).exists()
    # Still signed in as A throughout (sign-out was skipped), and A's own pages still work.
    assert client.get("/portal/record").status_code == 200
    assert a.pk != b.pk


def test_ask_my_practice_shows_what_to_do_now_on_a_red_flag(client, portal_provider):
    from wraparound.apps.triage.models import TriageRequest

    a = portal_provider.patients["a"]
    sign_in(client, portal_provider, "a")
    assert "Ask your GP practice" in client.get("/portal/ask").content.decode()
    assert client.post("/portal/ask", {"category": "clinical"}).status_code == 400
    assert client.post("/portal/ask", {"category": "x", "request": "hi"}).status_code == 400
    assert not TriageRequest.objects.filter(patient=a).exists()
    routine = client.post("/portal/ask", {"category": "admin", "request": "A fit note please"})
    assert routine.status_code == 200 and b"Request sent" in routine.content
    urgent = client.post(
        "/portal/ask", {"category": "clinical", "request": "Pain", "chest_pain": "yes"}
    )
    assert b"nhsuk-card--care--emergency" in urgent.content
    reqs = {r.urgency: r for r in TriageRequest.objects.filter(patient=a)}
    assert set(reqs) == {"routine", "emergency"}
    assert reqs["emergency"].source == "portal" and reqs["emergency"].practice_id == a.practice_id
    assert AuditEvent.objects.filter(patient=a, what="portal: ask my practice").count() == 5
