"""The referrals pages over HTTP: a GP finds the dermatology service with eligibility and
the pathway, sends for advice; the dermatologist finds it on the queue, reads the record on
the referral's relationship and answers; the GP accepts. Every patient page is audited once
with its basis; bad input is a 400 with nothing changed; the wrong people are refused."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from referrals_world import staff, world

from wraparound.apps.records.models import AuditEvent, User
from wraparound.apps.referrals import machine
from wraparound.apps.referrals.models import Attachment, Referral, ReferralEvent, Service

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def rows(patient):
    return list(AuditEvent.objects.filter(patient=patient).order_by("id"))


def test_advice_and_guidance_round_trip_over_http(client):
    w = world()
    patient, derm = w["patient"], w["derm"]
    client.force_login(w["gp"])
    page = reverse("referrals_patient", args=[patient.pk])
    found = client.get(page, {"q": "skin"})
    assert found.status_code == 200
    assert f"?service={derm.pk}" in found.content.decode()
    form = client.get(page, {"service": derm.pk}).content.decode()
    assert "Red flags: refer straight away" in form and "Suspected melanoma" in form
    before = len(rows(patient))
    sent = client.post(page, {"service": derm.pk, "reason": "Plaque on the shin, photo sent"})
    assert sent.status_code == 302
    ref = Referral.objects.get(patient=patient)
    thread = reverse("referral_thread", args=[ref.pk])
    client.post(thread, {"action": "request_advice"})
    ref.refresh_from_db()
    assert ref.state == "advice_requested"
    assert len(rows(patient)) > before and rows(patient)[-1].action == "write"
    assert "request_advice" in rows(patient)[-1].what or "request_advice" in rows(patient)[-2].what

    client.force_login(w["dermatologist"])
    queue = client.get(reverse("referrals_queue")).content.decode()
    assert str(patient) in queue
    n = len(rows(patient))
    shown = client.get(thread)
    assert shown.status_code == 200 and "Send advice" in shown.content.decode()
    assert len(rows(patient)) == n + 1 and rows(patient)[-1].basis == "referral_advice"
    refused = client.post(thread, {"action": "give_advice", "text": ""})
    assert refused.status_code == 400 and b"needs a message" in refused.content
    client.post(thread, {"action": "give_advice", "text": "Clobetasone for 4 weeks"})
    assert client.get(reverse("patient", args=[patient.pk])).status_code == 200  # may read

    client.force_login(w["gp"])
    worklist = client.get(reverse("referrals_worklist"), {"overdue": "yes"}).content.decode()
    assert str(patient) in worklist  # waiting on the referrer
    client.post(thread, {"action": "accept_advice"})
    ref.refresh_from_db()
    assert ref.state == "advice_accepted"
    client.force_login(w["dermatologist"])
    assert client.get(thread).status_code == 403  # closed: the relationship has ended
    assert str(patient) not in client.get(reverse("referrals_queue")).content.decode()


def test_bad_input_is_400_and_changes_nothing(client):
    w = world()
    patient = w["patient"]
    client.force_login(w["gp"])
    page = reverse("referrals_patient", args=[patient.pk])
    counts = (Referral.objects.count(), ReferralEvent.objects.count())
    assert client.post(page, {"service": "abc", "reason": "x"}).status_code == 400
    assert client.post(page, {"service": w["derm"].pk, "reason": " "}).status_code == 400
    paeds = Service.objects.get(service_id="traf-paeds")
    refused = client.post(page, {"service": paeds.pk, "reason": "x"})
    assert refused.status_code == 400 and b"aged 17 and under" in refused.content
    assert client.get(reverse("referrals_directory"), {"term": "nonsense"}).status_code == 400
    assert (Referral.objects.count(), ReferralEvent.objects.count()) == counts

    ref = machine.create(patient=patient, service=w["derm"], referrer=w["gp"], reason="x")
    thread = reverse("referral_thread", args=[ref.pk])
    big = SimpleUploadedFile("a.pdf", b"%" * 5_000_001, content_type="application/pdf")
    assert client.post(thread, {"action": "attach", "file": big}).status_code == 400
    exe = SimpleUploadedFile("a.exe", b"MZ", content_type="application/octet-stream")
    assert b"files of type" in client.post(thread, {"action": "attach", "file": exe}).content
    assert client.post(thread, {"action": "accept"}).status_code == 400
    assert not Attachment.objects.filter(referral=ref).exists()
    ok = SimpleUploadedFile("photo.png", b"\x89PNG", content_type="image/png")
    assert client.post(thread, {"action": "attach", "file": ok}).status_code == 302
    att = Attachment.objects.get(referral=ref)
    got = client.get(reverse("referral_attachment", args=[ref.pk, att.pk]))
    assert got.status_code == 200 and got.content == b"\x89PNG"


def test_the_wrong_people_are_refused(client, login):
    w = world()
    ref = machine.create(patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="x")
    machine.apply(ref, "request_advice", w["gp"])
    thread = reverse("referral_thread", args=[ref.pk])
    other = staff("ophthalmologist", Service.objects.get(service_id="dud-ophth"))
    client.force_login(other)
    assert client.get(thread).status_code == 403  # another service: no relationship
    assert str(w["patient"]) not in client.get(reverse("referrals_queue")).content.decode()
    login("commissioner")
    for url in ("referrals_queue", "referrals_worklist", "referrals_centre", "referrals_directory"):
        assert client.get(reverse(url)).status_code == 403, url
    assert client.get(thread).status_code == 403
    login("hub")  # a service that is not in the directory
    assert client.get(reverse("referrals_queue")).status_code == 403


def test_the_service_updates_its_capacity_and_waiting_time(client):
    w = world()
    client.force_login(w["dermatologist"])
    queue = reverse("referrals_queue")
    assert client.post(queue, {"capacity": "full", "waiting_weeks": "3"}).status_code == 400
    assert client.post(queue, {"capacity": "limited", "waiting_weeks": "999"}).status_code == 400
    derm = Service.objects.get(pk=w["derm"].pk)
    assert (derm.capacity, derm.waiting_weeks) == ("open", 14)
    assert client.post(queue, {"capacity": "limited", "waiting_weeks": "9"}).status_code == 302
    derm.refresh_from_db()
    assert (derm.capacity, derm.waiting_weeks) == ("limited", 9)
    assert derm.status_updated > w["derm"].status_updated


def test_centre_worklist_shows_everything_open_for_a_patient(client):
    w = world()
    patient = w["patient"]
    machine.create(
        patient=patient,
        service=w["transport"],
        referrer=w["coordinator"],
        reason="Transport",
        machine="request",
    )
    machine.create(patient=patient, service=w["derm"], referrer=w["gp"], reason="Rash")
    client.force_login(User.objects.get(username="coordinator"))
    n = AuditEvent.objects.count()
    page = client.get(reverse("referrals_centre"))
    assert page.status_code == 200
    body = page.content.decode()
    assert str(patient) in body and "Non-emergency patient transport" in body
    assert "Dermatology advice and referral" in body
    assert AuditEvent.objects.count() == n + 1
