"""The Friends and Family Test along the pathway (issue 15): offers at the touchpoints,
the one-time public link (used, expired, forged and malformed tokens refused with nothing
recorded), anonymous responses, the monthly roll-up with Wilson intervals (true counts for
staff, disclosure control in public), and free text shown to the service's staff only,
never on a public page or the scorecard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from url_map import app_urls, fill, sample_values
from worlds import fresh_patient, patients

from wraparound.analytics.stats import wilson
from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment
from wraparound.apps.care.models import Alert, CarePlan, CarePlanVersion
from wraparound.apps.demo import create_demo_feedback
from wraparound.apps.feedback import content, rollup
from wraparound.apps.feedback.models import Offer, Response
from wraparound.apps.feedback.offers import make_offers, pending_for
from wraparound.apps.messaging.api import set_preferences
from wraparound.apps.messaging.models import Message
from wraparound.apps.records.models import AuditEvent, Organisation, User
from wraparound.apps.referrals import directory
from wraparound.apps.referrals.models import Referral, ReferralEvent, Service

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

SECRET = "The receptionist Zebedee was kind"


def seen_appointment(patient, days_ago=1):
    hub_user = User.objects.get(username="hub")
    hub = create_hub(hub_user.service)
    start = timezone.now() - dt.timedelta(days=days_ago)
    return Appointment.objects.create(
        patient=patient,
        hub=hub,
        booking_org=patient.practice,
        start=start,
        end=start + dt.timedelta(minutes=15),
        mode="face_to_face",
        slot_type="routine",
        status="seen",
        seen_at=start,
    )


def test_offer_after_a_hub_appointment_is_answered_once_and_anonymously():
    patient = fresh_patient(at_gp_practice=True)
    appt = seen_appointment(patient)
    set_preferences(patient, phone="07700900123", preferred_channel="sms")
    summary = make_offers()
    assert summary["created"]["hub_appointment"] == 1 and summary["sent"] == 1
    offers = pending_for(patient)
    assert len(offers) == 1
    offer = offers[0]
    assert offer.touchpoint == "hub_appointment"
    assert offer.touchpoint_label == "After a hub appointment"
    assert offer.service_name == appt.hub.organisation.name
    assert offer.url == f"/feedback/{offer.token}" and len(offer.token) >= 32
    message = Message.objects.get(patient=patient, purpose="feedback")
    assert message.channel == "sms" and offer.url in message.body and offer.message_sent

    anonymous = Client()
    page = anonymous.get(offer.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Overall, how was your experience of our service?" in html
    for label in ("Very good", "Good", "Neither good nor poor", "Poor", "Very poor", "Don"):
        assert label in html
    for secret in (patient.nhs_number, patient.family_name, offer.service_name):
        assert secret not in html

    done = anonymous.post(offer.url, {"answer": "good", "why": SECRET, "better": ""})
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    response = Response.objects.get()
    assert response.answer == "good" and response.free_text == {"why": SECRET}
    assert response.touchpoint == "hub_appointment"
    assert response.practice_id == patient.practice_id
    assert response.hub_id == appt.hub.organisation_id
    assert response.month == timezone.localdate().replace(day=1)
    fields = {f.name for f in Response._meta.get_fields()}
    assert not fields & {"patient", "offer", "created_at", "token"}
    offer.refresh_from_db()
    assert offer.used and pending_for(patient) == []

    again = anonymous.post(offer.url, {"answer": "very_good"})
    assert again.status_code == 410 and "already been given" in again.content.decode()
    assert anonymous.get(offer.url).status_code == 410
    assert Response.objects.count() == 1
    assert make_offers(send=False)["created"]["hub_appointment"] == 0  # one offer per event


def test_expired_forged_and_malformed_tokens_and_bad_answers_record_nothing():
    patient = fresh_patient(at_gp_practice=True)
    seen_appointment(patient)
    make_offers(send=False)
    offer = Offer.objects.get(patient=patient)
    anonymous = Client()

    for bad in ({}, {"answer": "excellent"}, {"answer": "good", "why": "x" * 2001}):
        page = anonymous.post(offer.url, bad)
        assert page.status_code == 400, bad
        assert "There is a problem" in page.content.decode()
    forged = anonymous.post("/feedback/" + "A" * 32, {"answer": "good"})
    assert forged.status_code == 404 and "not recognised" in forged.content.decode()
    for path in ("/feedback/short", "/feedback/" + "%00" * 30, "/feedback/" + "é" * 30):
        assert anonymous.get(path).status_code == 404
    assert anonymous.put(offer.url).status_code == 405

    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    expired = anonymous.post(offer.url, {"answer": "good"})
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert pending_for(patient) == []
    assert Response.objects.count() == 0
    offer.refresh_from_db()
    assert not offer.used


def test_referral_seen_discharge_and_care_plan_review_touchpoints():
    patient = fresh_patient(at_gp_practice=True)
    gp = User.objects.get(username="gp")
    directory.import_demo()
    derm = Service.objects.get(service_id="dud-derm")
    now = timezone.now()
    referral = Referral.objects.create(
        patient=patient,
        service=derm,
        state="discharged",  # seen, then discharged: the offer follows the visit
        referrer=gp,
        referrer_org=gp.scope_org,
        reason="Rash",
        created_at=now - dt.timedelta(days=20),
        state_since=now,
        identifier="fft-referral-1",
    )
    ReferralEvent.objects.create(
        referral=referral, at=now - dt.timedelta(days=1), transition="seen", to_state="seen"
    )
    Alert.objects.create(
        patient=patient,
        encounter_id="enc-fft-1",
        kind="discharge",
        occurred_at=timezone.now() - dt.timedelta(days=2),
        batch=1,
        org_name="Trafford General",
    )
    Alert.objects.create(  # too long ago for an offer
        patient=patient,
        encounter_id="enc-fft-old",
        kind="discharge",
        occurred_at=timezone.now() - dt.timedelta(days=60),
        batch=1,
        org_name="Trafford General",
    )
    plan = CarePlan.objects.create(patient=patient)
    today = timezone.localdate()
    for number, agreed_on in ((1, today - dt.timedelta(days=400)), (2, today)):
        CarePlanVersion.objects.create(
            plan=plan,
            number=number,
            what_matters="Staying at home",
            goals="Walk to the shop",
            author=gp,
            agreed=True,
            agreed_on=agreed_on,
        )
    created = make_offers(send=False)["created"]
    assert created["discharge"] == 1 and created["care_plan_review"] == 1
    assert created["referral_seen"] == 1
    by_touchpoint = {o.touchpoint: o for o in pending_for(patient)}
    assert by_touchpoint["referral_seen"].service_org_id == derm.org_id
    assert by_touchpoint["referral_seen"].service_name == derm.name
    assert by_touchpoint["discharge"].service_name == "Trafford General"
    assert by_touchpoint["care_plan_review"].service_org_id == patient.practice_id
    # A patient who has died is never offered feedback.
    patient.death_date = today
    patient.save()
    Alert.objects.create(
        patient=patient,
        encounter_id="enc-fft-2",
        kind="discharge",
        occurred_at=timezone.now(),
        batch=2,
        org_name="Trafford General",
    )
    assert make_offers(send=False)["created"]["discharge"] == 0


def _responses(practice, hub, month, answers: dict[str, int], service="HUB1", text=""):
    for answer, n in answers.items():
        for _ in range(n):
            Response.objects.create(
                touchpoint="hub_appointment",
                service_code=service,
                service_name="Test Hub",
                service_org=hub,
                practice=practice,
                hub=hub,
                month=month,
                answer=answer,
                free_text={"why": text} if text else {},
            )


def test_rollup_share_positive_with_wilson_and_public_disclosure(client, login):
    gp = User.objects.get(username="gp")
    hub_org = User.objects.get(username="hub").service
    practice = gp.scope_org
    other = Organisation.objects.create(
        org_id="PFFT2", name="Small Surgery", kind="practice", parent=practice.parent
    )
    month = dt.date(2026, 10, 1)
    # 12 very good, 8 good, 3 neither, 2 poor, 1 very poor, 4 don't know: 20 / 30 positive.
    _responses(
        practice,
        hub_org,
        month,
        {"very_good": 12, "good": 8, "neither": 3, "poor": 2, "very_poor": 1, "dont_know": 4},
        text=SECRET,
    )
    _responses(other, hub_org, month, {"good": 2, "poor": 1})  # 3 responses: small
    rows = {(r.level, r.code): r for r in rollup.rows()}
    mine = rows[("practice", practice.org_id)]
    assert (mine.positive, mine.responses) == (20, 30)  # don't know counts in the total
    lo, hi = wilson([20], [30])
    assert mine.value == pytest.approx(100 * 20 / 30)
    assert (mine.lower95, mine.upper95) == (pytest.approx(100 * lo[0]), pytest.approx(100 * hi[0]))
    assert rows[("hub", hub_org.org_id)].responses == 33
    assert rows[("service", "HUB1")].responses == 33

    public = {(r.level, r.code): r for r in rollup.public_rows()}
    assert public[("practice", other.org_id)].suppressed
    # The other practice row is suppressed, so this one is too: 33 - 30 would give it away.
    assert public[("practice", practice.org_id)].suppressed
    hub_row = public[("hub", hub_org.org_id)]
    assert (hub_row.positive, hub_row.responses) == (20, 35)  # 22 and 33 rounded to 5
    lo, hi = wilson([20], [35])
    assert hub_row.lower95 == pytest.approx(100 * lo[0])

    page = Client().get("/public/feedback/")
    html = page.content.decode()
    assert page.status_code == 200 and "suppressed" in html and "57.1%" in html
    assert SECRET not in html and "Zebedee" not in html

    login("commissioner")
    staff = client.get("/fft/results/")
    assert staff.status_code == 200 and "66.7%" in staff.content.decode()
    assert "Zebedee" not in staff.content.decode()
    login("admin")
    assert client.get("/fft/results/").status_code == 403
    assert AuditEvent.objects.filter(what="FFT results", outcome="denied").exists()


def test_free_text_is_shown_to_the_service_only_and_never_published(client, login):
    world = patients()
    hub_org = User.objects.get(username="hub").service
    gp = User.objects.get(username="gp")
    _responses(gp.scope_org, hub_org, dt.date(2026, 10, 1), {"poor": 9}, text=SECRET)

    login("hub")
    page = client.get("/fft/comments/")
    assert page.status_code == 200 and SECRET in page.content.decode()
    assert AuditEvent.objects.filter(
        username="hub", what="FFT free text for the user's service"
    ).exists()
    for username in ("gp", "coordinator"):  # the GP's practice is not the hub's service
        login(username)
        page = client.get("/fft/comments/")
        assert SECRET not in page.content.decode()
    for username in ("commissioner", "admin", "auditor", "social"):
        login(username)
        assert client.get("/fft/comments/").status_code == 403, username

    # Every public page signed out, every scorecard page as the commissioner.
    values = sample_values(world)
    urls = app_urls()
    public = [fill(u, values) for u in urls if u.route.startswith("public/")]
    staff = [
        fill(u, values)
        for u in urls
        if u.route.startswith("scorecard/") or u.name == "feedback_results"
    ]
    assert "/public/feedback/" in public and any(t.startswith("/scorecard/") for t in staff)
    login("commissioner")
    for who, targets in ((Client(), public), (client, staff)):
        for target in targets:
            body = who.get(target).content.decode(errors="replace")
            assert "Zebedee" not in body, target


def test_the_content_file_is_checked():
    good = content.fft()
    assert good.question == "Overall, how was your experience of our service?"
    assert [c for c, _ in good.answers] == list(content.ANSWER_CODES)
    assert good.positive == {"very_good", "good"} and good.free_text
    import tomllib

    from wraparound.clinical import package_data_dir

    with package_data_dir().joinpath("feedback", "fft.toml").open("rb") as f:
        data = tomllib.load(f)
    broken = [
        ({**data, "answers": data["answers"][:5]}, "six FFT answers"),
        ({**data, "free_text": []}, "at least one [[free_text]]"),
        ({**data, "touchpoints": [{**data["touchpoints"][0], "source": "x"}]}, "unknown source"),
        ({**data, "offer": {**data["offer"], "valid_days": 0}}, "valid_days"),
        ({**data, "question": {}}, "[question] text"),
    ]
    for bad, message in broken:
        with pytest.raises(content.ContentError, match=message.replace("[", r"\[")):
            content.parse(bad)


def test_demo_seed_gives_months_of_anonymous_responses_and_a_public_rollup():
    summary = create_demo_feedback()
    assert summary["responses"] > 100
    months = set(Response.objects.values_list("month", flat=True))
    assert len(months) == 6
    assert set(Response.objects.values_list("touchpoint", flat=True)) >= {
        "hub_appointment",
        "care_plan_review",
        "discharge",
    }
    shown = [r for r in rollup.public_rows() if not r.suppressed]
    assert shown and all(r.responses % 5 == 0 for r in shown)


def test_the_link_in_the_message_is_absolute_on_the_public_address_and_resolves(
    monkeypatch, tmp_path
):
    """A text message is read outside the app: its FFT link must be the whole address, on
    WRAPAROUND_PUBLIC_BASE_URL, and following it must open the question."""
    import json
    from urllib.parse import urlsplit

    from django.urls import resolve

    from wraparound import config

    monkeypatch.setenv("WRAPAROUND_PUBLIC_BASE_URL", "https://wraparound.example.nhs.uk/")
    monkeypatch.setenv("WRAPAROUND_MESSAGING_OUTBOX", str(tmp_path))
    patient = fresh_patient(at_gp_practice=True)
    seen_appointment(patient)
    set_preferences(patient, phone="07700900123", preferred_channel="sms")
    assert make_offers()["sent"] == 1
    offer = Offer.objects.get(patient=patient)
    link = f"https://wraparound.example.nhs.uk/feedback/{offer.token}"
    [line] = [json.loads(x) for x in (tmp_path / "messages.jsonl").read_text().splitlines()]
    assert line["purpose"] == "feedback" and line["channel"] == "sms"
    assert line["personalisation"]["link"] == link
    assert line["body"].endswith(f"Tell us: {link}")
    path = urlsplit(line["personalisation"]["link"]).path
    match = resolve(path)
    assert match.url_name == "feedback_form" and match.kwargs == {"token": offer.token}
    page = Client().get(path)
    assert page.status_code == 200
    assert "Overall, how was your experience of our service?" in page.content.decode()

    # In production an http address (here the demo default) is refused before anything is
    # sent, with one message naming the setting; the offer waits, unsent.
    monkeypatch.setenv("WRAPAROUND_ENV", "production")
    monkeypatch.delenv("WRAPAROUND_PUBLIC_BASE_URL")
    other = fresh_patient(at_gp_practice=True)
    seen_appointment(other)
    set_preferences(other, phone="07700900124", preferred_channel="sms")
    refused = "WRAPAROUND_PUBLIC_BASE_URL must be an https address in production"
    with pytest.raises(config.ConfigurationError, match=refused):
        make_offers()
    assert not Offer.objects.get(patient=other).message_sent
    assert not Message.objects.filter(patient=other).exists()
    assert len((tmp_path / "messages.jsonl").read_text().splitlines()) == 1
