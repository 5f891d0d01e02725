"""Self-referral without an account and the practice's triage queue (apps/triage): the public
forms (CSRF, honeypot, rate limits, clear 400s), matching by NHS number or demographics with a
response identical whatever matched, red flags routed to the practice as urgent, the staff
queue, review queue and actions, each gated and audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client
from worlds import fresh_patient, patients

from wraparound import nhs_number
from wraparound.apps.messaging.api import set_preferences
from wraparound.apps.messaging.models import Message
from wraparound.apps.records.models import AuditEvent, User
from wraparound.apps.triage.models import TriageRequest

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

PHYSIO = {
    "q_problem_area": "Back",
    "q_how_long": "Less than 6 weeks",
    "q_description": "Lifting a box last week",
    "q_bladder_bowel": "no",
    "q_saddle_numbness": "no",
    "q_fever_unwell": "no",
}


@pytest.fixture(autouse=True)
def limits(monkeypatch, tmp_path):
    cache.clear()
    monkeypatch.setenv("WRAPAROUND_SELF_REFERRAL_RATE_IP", "1000/h")
    monkeypatch.setenv("WRAPAROUND_SELF_REFERRAL_RATE_IDENTITY", "1000/h")
    monkeypatch.setenv("WRAPAROUND_MESSAGING_OUTBOX", str(tmp_path / "outbox"))
    yield
    cache.clear()


def unused_nhs_number() -> str:
    from wraparound.apps.records.models import Patient

    taken = set(Patient.objects.values_list("nhs_number", flat=True))
    for n in range(900000000, 900001000):
        check = nhs_number.check_digit(str(n))
        if check is not None and f"{n}{check}" not in taken:
            return f"{n}{check}"
    raise AssertionError


def numbered(at_gp_practice: bool = True):
    """A fresh patient with a valid NHS number (the form checks Modulus 11)."""
    patient = fresh_patient(at_gp_practice=at_gp_practice)
    patient.nhs_number = unused_nhs_number()
    patient.save()
    return patient


def person(patient=None, **extra) -> dict:
    birth = patient.birth_date if patient else dt.date(1971, 2, 3)
    data = {
        "given_name": patient.given_name if patient else "Nobody",
        "family_name": patient.family_name if patient else "Known",
        "dob_day": str(birth.day),
        "dob_month": str(birth.month),
        "dob_year": str(birth.year),
        "postcode": "M1 1AA",
        "phone": "07700900555",
    }
    return {**data, **extra}


def twin(patient, postcode="M1 1AA"):
    """A second patient with the same name and date of birth, at the same postcode."""
    other = fresh_patient(at_gp_practice=True)
    other.given_name, other.family_name, other.birth_date = (
        patient.given_name,
        patient.family_name,
        patient.birth_date,
    )
    other.save()
    set_preferences(other, postcode=postcode, source="identity")
    return other


def body_without_reference(response) -> str:
    return re.sub(r"WR-[A-Z0-9]{8}", "WR-XXXXXXXX", response.content.decode())


def test_the_response_is_identical_whether_matched_ambiguous_or_not(client):
    matched = numbered()
    set_preferences(matched, postcode="M1 1AA", source="identity")
    one_of_two = fresh_patient(at_gp_practice=True)
    set_preferences(one_of_two, postcode="M2 2BB", source="identity")
    twin(one_of_two, postcode="M2 2BB")
    cases = {
        "matched": person(matched, nhs_number=matched.nhs_number, postcode="ZZ9 9ZZ"),
        "ambiguous": person(one_of_two, postcode="M2 2BB"),
        "unmatched": person(nhs_number=unused_nhs_number()),
        "number without its date of birth": person(
            nhs_number=matched.nhs_number, dob_year="1999", given_name="X", family_name="Y"
        ),
    }
    responses = {}
    for name, data in cases.items():
        responses[name] = client.post("/self-referral/physiotherapy/", {**data, **PHYSIO})
    assert {r.status_code for r in responses.values()} == {200}
    bodies = {body_without_reference(r) for r in responses.values()}
    assert len(bodies) == 1, "the page differs with the match"
    assert "Your request has been sent" in bodies.pop()
    outcomes = list(TriageRequest.objects.order_by("pk").values_list("match", flat=True))[-4:]
    assert outcomes == ["matched", "ambiguous", "unmatched", "unmatched"]
    matched_req = TriageRequest.objects.get(patient=matched)
    assert matched_req.practice == matched.practice and matched_req.urgency == "routine"
    refs = [re.search(r"WR-[A-Z0-9]{8}", r.content.decode()).group() for r in responses.values()]
    assert len(set(refs)) == 4
    assert set(
        TriageRequest.objects.filter(reference__in=refs).values_list("reference", flat=True)
    ) == set(refs)


def test_demographics_match_one_patient_by_name_birth_and_postcode(client):
    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, postcode="M3 3CC", source="identity")
    client.post(
        "/self-referral/counselling/",
        {
            **person(patient, postcode="m3 3cc"),
            "q_reason": "Relationships",
            "q_suicidal_thoughts": "no",
        },
    )
    req = TriageRequest.objects.get(form="counselling", patient=patient)
    assert req.match == "matched"
    # Without a recorded postcode, the same name and birth date is only possible: review.
    nameless = fresh_patient(at_gp_practice=True)
    client.post(
        "/self-referral/counselling/",
        {**person(nameless), "q_reason": "Relationships", "q_suicidal_thoughts": "no"},
    )
    latest = TriageRequest.objects.latest("pk")
    assert (latest.match, latest.patient) == ("ambiguous", None)
    assert latest.identity["candidates"] == [nameless.pk]


def test_red_flag_routes_to_the_practice_as_urgent_with_what_to_do_now(client, login):
    patient = numbered()
    routine = client.post(
        "/self-referral/physiotherapy/",
        {**person(patient, nhs_number=patient.nhs_number), **PHYSIO},
    )
    assert "Call 999" not in routine.content.decode()
    response = client.post(
        "/self-referral/physiotherapy/",
        {**person(patient, nhs_number=patient.nhs_number), **PHYSIO, "q_bladder_bowel": "yes"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "nhsuk-card--care--emergency" in body and "Call 999 or go to A&amp;E now" in body
    req = TriageRequest.objects.filter(patient=patient).latest("pk")
    assert (req.urgency, req.red_flags) == ("emergency", ["cauda_equina_bladder_bowel"])
    talking = client.post(
        "/self-referral/talking_therapies/",
        {
            **person(),
            "q_main_difficulty": "Low mood or depression",
            "q_description": "Low",
            "q_suicidal_thoughts": "yes",
            "q_harmed_self": "no",
            "practice": patient.practice_id,
        },
    )
    assert "116 123" in talking.content.decode()
    unmatched = TriageRequest.objects.latest("pk")
    assert (unmatched.urgency, unmatched.match, unmatched.practice) == (
        "urgent",
        "unmatched",
        patient.practice,
    )
    login("gp")
    queue = client.get("/triage/").content.decode()
    assert queue.index(req.reference) < queue.index(
        TriageRequest.objects.filter(patient=patient).earliest("pk").reference
    )
    assert "Possible cauda equina syndrome" in queue
    review = client.get("/triage/review/").content.decode()
    assert unmatched.reference in review and "Urgent" in review


def test_honeypot_csrf_and_bad_input(client):
    before = TriageRequest.objects.count()
    bot = client.post(
        "/self-referral/physiotherapy/", {**person(), **PHYSIO, "website": "http://spam"}
    )
    assert bot.status_code == 200 and "Your request has been sent" in bot.content.decode()
    assert TriageRequest.objects.count() == before
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/self-referral/physiotherapy/", {**person(), **PHYSIO}).status_code == 403
    bad_number = client.post(
        "/self-referral/physiotherapy/", {**person(nhs_number="1234567890"), **PHYSIO}
    )
    assert (
        bad_number.status_code == 400
        and "Enter a valid 10-digit NHS number" in bad_number.content.decode()
    )
    missing = client.post(
        "/self-referral/physiotherapy/", {**person(), "q_problem_area": "Elbow of the moon"}
    )
    assert missing.status_code == 400
    body = missing.content.decode()
    assert "Choose an answer: Where is the problem?" in body and "There is a problem" in body
    no_contact = client.post(
        "/self-referral/physiotherapy/", {**person(phone=""), **PHYSIO, "dob_month": "13"}
    )
    assert (
        no_contact.status_code == 400 and "Enter your date of birth" in no_contact.content.decode()
    )
    huge = client.post(
        "/self-referral/physiotherapy/", {**person(), **PHYSIO, "dob_year": "9" * 30}
    )
    assert huge.status_code == 400
    assert client.get("/self-referral/nope/").status_code == 404
    assert client.get("/self-referral/online_consultation/").status_code == 404  # not public
    assert client.put("/self-referral/physiotherapy/").status_code == 405
    assert TriageRequest.objects.count() == before


def test_rate_limits_per_ip_and_per_identity(client, monkeypatch):
    monkeypatch.setenv("WRAPAROUND_SELF_REFERRAL_RATE_IDENTITY", "2/h")
    data = {**person(), **PHYSIO}
    assert [client.post("/self-referral/physiotherapy/", data).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert (
        client.post("/self-referral/physiotherapy/", {**data, "given_name": "Other"}).status_code
        == 200
    )
    cache.clear()
    monkeypatch.setenv("WRAPAROUND_SELF_REFERRAL_RATE_IP", "1/m")
    assert (
        client.post("/self-referral/physiotherapy/", {**data, "given_name": "A"}).status_code == 200
    )
    limited = client.post("/self-referral/physiotherapy/", {**data, "given_name": "B"})
    assert limited.status_code == 429 and "Try again later" in limited.content.decode()


def test_public_pages_open_and_staff_pages_not(client):
    assert client.get("/self-referral/").status_code == 200
    assert client.get("/self-referral/physiotherapy/").status_code == 200
    assert client.get("/triage/").status_code == 302


def test_queue_is_for_practice_staff_and_audited(client, login):
    patient = numbered()
    client.post(
        "/self-referral/physiotherapy/",
        {**person(patient, nhs_number=patient.nhs_number), **PHYSIO},
    )
    req = TriageRequest.objects.get(patient=patient)
    for username in ("nurse", "hub", "commissioner", "admin", "auditor"):
        login(username)
        before = AuditEvent.objects.count()
        for url in ("/triage/", "/triage/review/", f"/triage/{req.pk}/"):
            response = client.get(url)
            assert response.status_code == 403, (username, url)
            assert patient.family_name.upper() not in response.content.decode()
        assert AuditEvent.objects.count() == before + 3
    login("practice")
    before = AuditEvent.objects.count()
    assert patient.family_name.upper() in client.get("/triage/").content.decode()
    assert AuditEvent.objects.count() == before + 1
    detail = client.get(f"/triage/{req.pk}/")
    assert detail.status_code == 200 and "Lifting a box" in detail.content.decode()
    row = AuditEvent.objects.latest("id")
    assert (row.patient_id, row.action, row.basis) == (patient.pk, "read", "registered")


def test_a_request_of_a_patient_without_a_relationship_is_refused():
    from wraparound.apps.triage.intake import submit_request

    stranger = patients()["stranger"]
    req = submit_request(patient=stranger, answers={"request": "x"})
    client = Client()
    client.post(
        "/login/",
        {
            "username": "gp",
            "password": __import__("wraparound.apps.demo", fromlist=["x"]).DEMO_PASSWORD,
        },
    )
    before = AuditEvent.objects.filter(patient=stranger, action="denied").count()
    assert client.get(f"/triage/{req.pk}/").status_code == 403
    assert client.post(f"/triage/{req.pk}/action", {"action": "close"}).status_code == 403
    assert AuditEvent.objects.filter(patient=stranger, action="denied").count() == before + 2
    assert TriageRequest.objects.get(pk=req.pk).status == "open"


def test_answer_book_refer_close_each_audited(client, login):
    from wraparound.apps.triage.intake import submit_request

    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, phone="07700900777")
    req = submit_request(
        patient=patient, answers={"request": "Repeat prescription"}, category="admin"
    )
    login("gp")
    assert client.get(f"/triage/{req.pk}/answer").status_code == 405
    assert client.post(f"/triage/{req.pk}/answer", {"message": ""}).status_code == 400
    response = client.post(f"/triage/{req.pk}/answer", {"message": "Ready to collect tomorrow"})
    assert response.status_code == 302
    message = Message.objects.get(patient=patient)
    assert (message.status, message.channel, message.reference) == ("sent", "sms", req.reference)
    assert "Ready to collect tomorrow" in message.body
    req.refresh_from_db()
    assert req.status == "answered" and req.first_response_at is not None
    writes = AuditEvent.objects.filter(patient=patient, action="write")
    assert writes.filter(what=f"triage answer {req.reference}").count() == 1
    page = client.get(f"/triage/{req.pk}/").content.decode()
    assert f"/patients/{patient.pk}/appointments/book" in page  # book: the access booking page
    assert client.post(f"/triage/{req.pk}/action", {"action": "teleport"}).status_code == 400
    assert client.post(f"/triage/{req.pk}/action", {"action": "book"}).status_code == 302
    assert (
        client.post(f"/triage/{req.pk}/action", {"action": "close", "note": "done"}).status_code
        == 302
    )
    req.refresh_from_db()
    assert (req.status, req.actions.count()) == ("closed", 3)
    assert writes.count() == 3
    # An answer that cannot be sent is recorded, said, and is not a response.
    silent = fresh_patient(at_gp_practice=True)
    req2 = submit_request(patient=silent, answers={"request": "x"})
    client.post(f"/triage/{req2.pk}/answer", {"message": "Please call us"})
    req2.refresh_from_db()
    assert req2.first_response_at is None
    assert Message.objects.get(patient=silent).status == "undeliverable"


def test_review_queue_resolves_to_a_patient(client, login):
    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, postcode="M4 4DD", source="identity")
    other = twin(patient, postcode="M4 4DD")
    client.post("/self-referral/physiotherapy/", {**person(patient, postcode="M4 4DD"), **PHYSIO})
    req = TriageRequest.objects.latest("pk")
    assert req.match == "ambiguous" and set(req.identity["candidates"]) == {patient.pk, other.pk}
    login("practice")
    page = client.get(f"/triage/{req.pk}/").content.decode()
    assert patient.nhs_number_display() in page and other.nhs_number_display() in page
    assert client.post(f"/triage/{req.pk}/resolve", {}).status_code == 400
    assert client.post(f"/triage/{req.pk}/resolve", {"patient": "9" * 40}).status_code == 400
    assert (
        client.post(f"/triage/{req.pk}/resolve", {"nhs_number": "9990000018"}).status_code == 400
    )  # not ours
    assert client.post(f"/triage/{req.pk}/answer", {"message": "hi"}).status_code == 400
    assert TriageRequest.objects.get(pk=req.pk).patient is None
    assert client.post(f"/triage/{req.pk}/resolve", {"patient": str(other.pk)}).status_code == 302
    req.refresh_from_db()
    assert (req.patient, req.match) == (other, "resolved")
    assert (
        AuditEvent.objects.filter(
            patient=other, action="write", what=f"triage resolve {req.reference}"
        ).count()
        == 1
    )
    assert req.reference in client.get("/triage/").content.decode()
    assert client.post(f"/triage/{req.pk}/resolve", {"patient": str(patient.pk)}).status_code == 400
    assert User.objects.get(username="practice").role_info.practice_list
