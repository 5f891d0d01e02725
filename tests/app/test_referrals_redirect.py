"""A redirect at triage (``redirect`` in data/referrals/transitions.toml, which ``creates`` a
referral in ``referred``): the receiving service sends the referral on to another directory
service. The new referral exists at once in the new service's triage queue, linked to the
original and carrying its question and attachments; the original is ``redirected``; the old
service's relationship ends and the new service's begins (data/relationships.toml kinds);
both steps are audited. An illegal redirect (no service, an unknown one, the same one, one
that takes no referrals or is closed, a patient not eligible, the wrong side) is refused with
a clear message and writes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse
from referrals_world import staff, world

from wraparound.apps.records import relationships
from wraparound.apps.records.models import AuditEvent
from wraparound.apps.referrals import fhir, machine, worklists
from wraparound.apps.referrals.models import Attachment, Referral, ReferralEvent, Service

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _kinds(user, patient):
    return {r.kind for r in relationships.current(user, patient)}


def _awaiting_triage(w):
    ref = machine.create(
        patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="Joint pain, rash"
    )
    machine.apply(ref, "request_advice", w["gp"])
    machine.apply(ref, "give_advice", w["dermatologist"], message="Needs to be seen")
    machine.apply(ref, "convert", w["gp"])
    Attachment.objects.create(
        referral=ref,
        at=ref.state_since,
        uploaded_by=w["gp"],
        name="hands.jpg",
        content_type="image/jpeg",
        size=3,
        data=b"JPG",
    )
    assert ref.state == "awaiting_triage"
    return ref


def test_redirect_opens_the_new_referral_at_the_target_service():
    w = world()
    patient, derm = w["patient"], w["dermatologist"]
    rheum = Service.objects.get(service_id="dud-rheum")
    rheumatologist = staff("rheumatologist", rheum)
    ref = _awaiting_triage(w)
    assert _kinds(derm, patient) == {"referral_triage"}
    assert _kinds(rheumatologist, patient) == set()

    machine.apply(ref, "redirect", derm, reason="wrong_service", service=rheum)

    ref.refresh_from_db()
    assert (ref.state, ref.open) == ("redirected", False)
    new = Referral.objects.get(redirected_from=ref)
    assert (new.service, new.state, new.open) == (rheum, "awaiting_triage", True)
    assert (new.patient, new.referrer, new.referrer_org) == (patient, w["gp"], ref.referrer_org)
    assert new.reason == ref.reason and new.specialty == rheum.specialty
    assert new.due is not None  # the triage timer runs at the new service
    steps = [(e.transition, e.to_state, e.by) for e in new.events.all()]
    assert steps == [("redirect_in", "referred", derm), ("receive", "awaiting_triage", None)]
    assert new.events.first().reason_code == "wrong_service"
    # the old service loses access, the new one gains it (referral_triage: read)
    assert _kinds(derm, patient) == set()
    assert relationships.first_allowing(derm, patient, "read") is None
    assert _kinds(rheumatologist, patient) == {"referral_triage"}
    assert relationships.first_allowing(rheumatologist, patient, "read").kind == ("referral_triage")
    # it waits on the new service's queue, not the old one's
    assert new in worklists.service_queue(rheum)
    assert ref not in worklists.service_queue(w["derm"])
    assert [r.pk for r in new.chain()] == [new.pk, ref.pk]
    # exported as a ServiceRequest that replaces the original
    sr = fhir.to_fhir(new)["entry"][0]["resource"]
    assert sr["replaces"][0]["identifier"]["value"] == ref.identifier


@pytest.mark.parametrize(
    ("target", "who", "reason", "message"),
    [
        (None, "dermatologist", "wrong_service", "needs a service from the directory"),
        ("dud-derm", "dermatologist", "wrong_service", "needs another service"),
        ("dud-111", "dermatologist", "wrong_service", "takes no referrals"),
        ("closed", "dermatologist", "wrong_service", "not accepting"),
        ("female-only", "dermatologist", "wrong_service", "not eligible"),
        ("dud-rheum", "dermatologist", "", "needs a reason from the list"),
        ("dud-rheum", "gp", "wrong_service", "is for the receiving service"),
        ("dud-rheum", "driver", "wrong_service", "is for the receiving service"),
    ],
)
def test_illegal_redirects_change_nothing(target, who, reason, message):
    w = world()
    ref = _awaiting_triage(w)
    service = None
    if target == "closed":
        service = Service.objects.get(service_id="dud-rheum")
        service.capacity = "closed"
        service.save()
    elif target == "female-only":
        service = Service.objects.get(service_id="dud-rheum")
        service.sex = "male" if w["patient"].sex == "female" else "female"
        service.save()
    elif target:
        service = Service.objects.get(service_id=target)
    before = (Referral.objects.count(), ReferralEvent.objects.count(), AuditEvent.objects.count())
    with pytest.raises(machine.TransitionError, match=message):
        machine.apply(ref, "redirect", w[who], reason=reason, service=service)
    ref.refresh_from_db()
    assert ref.state == "awaiting_triage"
    after = (Referral.objects.count(), ReferralEvent.objects.count(), AuditEvent.objects.count())
    assert after == before
    assert _kinds(w["dermatologist"], w["patient"]) == {"referral_triage"}


def test_redirect_over_http_is_audited_and_the_new_service_takes_over(client):
    w = world()
    patient = w["patient"]
    rheum = Service.objects.get(service_id="dud-rheum")
    rheumatologist = staff("rheumatologist", rheum)
    ref = _awaiting_triage(w)
    thread = reverse("referral_thread", args=[ref.pk])
    client.force_login(w["dermatologist"])
    page = client.get(thread).content.decode()
    assert 'name="service"' in page and f'value="{rheum.pk}"' in page
    assert f'value="{w["derm"].pk}"' not in page  # not to itself

    # an unknown service: a 400 saying so, nothing written
    n = (Referral.objects.count(), ReferralEvent.objects.count())
    bad = client.post(thread, {"action": "redirect", "reason": "wrong_service", "service": 99999})
    assert bad.status_code == 400 and b"needs a service from the directory" in bad.content
    assert (Referral.objects.count(), ReferralEvent.objects.count()) == n
    ref.refresh_from_db()
    assert ref.state == "awaiting_triage"

    last = AuditEvent.objects.order_by("-pk").first().pk
    done = client.post(
        thread, {"action": "redirect", "reason": "wrong_service", "service": rheum.pk}
    )
    assert done.status_code == 302
    new = Referral.objects.get(redirected_from=ref)
    writes = list(
        AuditEvent.objects.filter(pk__gt=last, action="write", patient=patient).values_list(
            "what", flat=True
        )
    )
    assert any(f"{ref.identifier}: redirect (awaiting_triage -> redirected)" in x for x in writes)
    assert any(f"{new.identifier} to {rheum}" in x and ref.identifier in x for x in writes)

    # the old service is refused (audited), the new one reads it from its queue
    last = AuditEvent.objects.order_by("-pk").first().pk
    assert client.get(thread).status_code == 403
    assert AuditEvent.objects.filter(pk__gt=last, outcome="denied", patient=patient).count() == 1
    client.force_login(rheumatologist)
    assert str(patient) in client.get(reverse("referrals_queue")).content.decode()
    shown = client.get(reverse("referral_thread", args=[new.pk])).content.decode()
    assert "Redirected from" in shown and ref.identifier in shown and "hands.jpg" in shown
    att = Attachment.objects.get(referral=ref)
    got = client.get(reverse("referral_attachment", args=[new.pk, att.pk]))
    assert got.status_code == 200 and got.content == b"JPG"
