"""Messaging (apps/messaging): the outbox backend records and writes every message; contact
preferences, reasonable adjustments and the opt-out rule decide what is sent; a message that
cannot be sent is recorded with the reason; the Notify backend refuses to start without a key
and refuses Notify's real address under tests, and its requests are checked against a real
local HTTP server; the staff outbox page is role-gated and audited."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import jwt
import pytest
from worlds import fresh_patient

from wraparound.apps.messaging import backends
from wraparound.apps.messaging.api import MessagingError, send_message, set_preferences
from wraparound.apps.messaging.contacts import sync_from_identity
from wraparound.apps.messaging.models import ContactPreference, Message
from wraparound.apps.records.models import AuditEvent, User
from wraparound.config import ConfigurationError

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

SERVICE_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "66666666-7777-8888-9999-000000000000"
API_KEY = f"test_key-{SERVICE_ID}-{SECRET}"
BOOKED = {
    "place": "Dene Park hub",
    "when": "Tuesday 8 December, 6:30pm",
    "how_to_change": "call 0161 000 0000",
}


@pytest.fixture
def outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "outbox")
    monkeypatch.setenv("WRAPAROUND_MESSAGING_OUTBOX", str(tmp_path / "outbox"))
    return tmp_path / "outbox" / "messages.jsonl"


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_preferred_channel_sent_to_the_outbox(outbox):
    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, phone="07700900123", email="a@example.org", preferred_channel="email")
    gp = User.objects.get(username="gp")
    m = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
        sender=gp,
        reference="REF-1",
    )
    assert (m.status, m.channel, m.to, m.backend) == ("sent", "email", "a@example.org", "outbox")
    assert m.subject == "Your appointment on Tuesday 8 December, 6:30pm"
    assert "Dear Fresh Patient" in m.body and "((" not in m.body
    [line] = lines(outbox)
    assert line["id"] == m.pk and line["to"] == "a@example.org" and line["reference"] == "REF-1"
    assert line["notify_template_id"] == "3f1c7b1e-0d52-4a8e-9a51-5d3d0a7c0012"
    # Without a preferred channel, SMS comes first.
    set_preferences(patient, preferred_channel="")
    m2 = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
    )
    assert (m2.channel, m2.to) == ("sms", "07700900123")


def test_no_contact_detail_is_recorded_undeliverable_not_dropped(outbox):
    patient = fresh_patient()
    m = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
    )
    assert m.status == "undeliverable"
    assert (
        m.reason
        == "no mobile number recorded; no email address recorded; no postal address recorded"
    )
    assert Message.objects.filter(pk=m.pk).exists() and lines(outbox) == []


def test_no_sms_is_honoured(outbox):
    patient = fresh_patient()
    set_preferences(
        patient, phone="07700900123", email="b@example.org", no_sms=True, preferred_channel="sms"
    )
    m = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
    )
    assert (m.status, m.channel) == ("sent", "email")
    named = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
        channel="sms",
    )
    assert (named.status, named.reason) == (
        "undeliverable",
        "the patient asked not to be sent text messages",
    )
    assert [x["channel"] for x in lines(outbox)] == ["email"]


def test_opt_out_does_not_block_direct_care_but_blocks_other_purposes(outbox):
    patient = fresh_patient()
    patient.opted_out = True
    patient.save()
    set_preferences(patient, phone="07700900123")
    care = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "Dene Park", "message": "Please call us."},
        purpose="triage_response",
    )
    assert care.status == "sent"
    research = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "Dene Park", "message": "A study."},
        purpose="research_invitation",
    )
    assert research.status == "undeliverable" and "opt-out" in research.reason
    patient.death_date = dt.date(2026, 1, 1)
    patient.save()
    dead = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "P", "message": "x"},
        purpose="triage_response",
    )
    assert (dead.status, dead.reason) == ("undeliverable", "the patient has died")
    assert len(lines(outbox)) == 1


def test_reasonable_adjustments(outbox):
    patient = fresh_patient()
    set_preferences(
        patient,
        address="1 High Street\nDene Park",
        postcode="M1 1AA",
        preferred_channel="letter",
        easy_read=True,
        large_print=True,
        interpreter_language="Polish",
    )
    m = send_message(
        patient=patient,
        template="appointment_booked",
        personalisation=BOOKED,
        purpose="appointment",
    )
    assert (m.status, m.channel) == ("sent", "letter")
    assert m.body.startswith("Dear Fresh") and "You have an appointment." in m.body  # easy read
    assert m.adjustments == ["large print", "easy read", "interpreter: Polish"]
    [line] = lines(outbox)
    assert line["adjustments"] == m.adjustments
    assert line["personalisation"]["address_line_1"] == f"Fresh {patient.family_name}"
    assert line["personalisation"]["address_line_4"] == "M1 1AA"
    # A template without an easy-read version says so.
    m2 = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "P", "message": "x"},
        purpose="triage_response",
    )
    assert "no easy-read version of this template" in m2.adjustments


def test_callers_mistakes_raise_and_record_nothing(outbox):
    patient = fresh_patient()
    set_preferences(patient, phone="07700900123")
    before = Message.objects.count()
    with pytest.raises(MessagingError, match="no value for how_to_change"):
        send_message(
            patient=patient,
            template="appointment_booked",
            personalisation={"place": "x", "when": "y"},
            purpose="appointment",
        )
    with pytest.raises(MessagingError, match="unknown message template"):
        send_message(patient=patient, template="nope", personalisation={}, purpose="appointment")
    with pytest.raises(MessagingError, match="unknown message purpose"):
        send_message(patient=patient, template="free_text", personalisation={}, purpose="nope")
    with pytest.raises(MessagingError, match="no 'letter' version"):
        send_message(
            patient=patient,
            template="appointment_reminder",
            personalisation=BOOKED,
            purpose="reminder",
            channel="letter",
        )
    assert Message.objects.count() == before and lines(outbox) == []


def test_notify_backend_refuses_without_a_key_and_refuses_real_notify_under_tests(monkeypatch):
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "notify")
    monkeypatch.delenv("WRAPAROUND_NOTIFY_API_KEY", raising=False)
    monkeypatch.delenv("WRAPAROUND_NOTIFY_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="WRAPAROUND_NOTIFY_API_KEY must be set"):
        backends.backend()
    monkeypatch.setenv("WRAPAROUND_NOTIFY_API_KEY", API_KEY)
    with pytest.raises(ConfigurationError, match=r"refuses GOV\.UK Notify's real address"):
        backends.backend()
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="must be outbox or notify"):
        backends.backend()
    # send_message refuses before anything is handed over: the message is not sent anywhere.
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "notify")
    patient = fresh_patient()
    set_preferences(patient, phone="07700900123")
    with pytest.raises(ConfigurationError):
        send_message(
            patient=patient,
            template="free_text",
            personalisation={"practice": "P", "message": "x"},
            purpose="triage_response",
        )
    assert not Message.objects.filter(patient=patient, status="sent").exists()


class _Notify(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []
    status = 201

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers["Authorization"], body))
        out = json.dumps(
            {"id": f"notify-{len(self.seen)}"}
            if self.status == 201
            else {
                "errors": [
                    {
                        "error": "BadRequestError",
                        "message": "Can't send to this recipient using a team-only API key",
                    }
                ],
                "status_code": 400,
            }
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def notify_server(monkeypatch):
    _Notify.seen, _Notify.status = [], 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Notify)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("WRAPAROUND_MESSAGING_BACKEND", "notify")
    monkeypatch.setenv("WRAPAROUND_NOTIFY_API_KEY", API_KEY)
    monkeypatch.setenv("WRAPAROUND_NOTIFY_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    yield _Notify
    server.shutdown()
    server.server_close()


def test_notify_client_requests_against_a_local_server(notify_server):
    patient = fresh_patient()
    set_preferences(
        patient,
        phone="07700900123",
        email="c@example.org",
        address="2 Low Road\nDene",
        postcode="M2 2BB",
    )
    sms = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "Dene Park", "message": "Hello"},
        purpose="triage_response",
        channel="sms",
        reference="TRI-1",
    )
    email = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "Dene Park", "message": "Hello"},
        purpose="triage_response",
        channel="email",
    )
    letter = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "Dene Park", "message": "Hello"},
        purpose="triage_response",
        channel="letter",
    )
    assert [m.status for m in (sms, email, letter)] == ["sent"] * 3
    assert [m.provider_id for m in (sms, email, letter)] == ["notify-1", "notify-2", "notify-3"]
    paths = [p for p, _, _ in notify_server.seen]
    assert paths == ["/v2/notifications/sms", "/v2/notifications/email", "/v2/notifications/letter"]
    _, auth, body = notify_server.seen[0]
    assert body == {
        "phone_number": "07700900123",
        "template_id": "3f1c7b1e-0d52-4a8e-9a51-5d3d0a7c0001",
        "personalisation": {
            "name": f"Fresh {patient.family_name}",
            "practice": "Dene Park",
            "message": "Hello",
        },
        "reference": "TRI-1",
    }
    claims = jwt.decode(auth.removeprefix("Bearer "), SECRET, algorithms=["HS256"])
    assert claims["iss"] == SERVICE_ID
    assert notify_server.seen[1][2]["email_address"] == "c@example.org"
    assert notify_server.seen[1][2]["reference"] == f"wraparound-{email.pk}"
    letter_body = notify_server.seen[2][2]["personalisation"]
    assert [letter_body[f"address_line_{i}"] for i in range(1, 5)] == [
        f"Fresh {patient.family_name}",
        "2 Low Road",
        "Dene",
        "M2 2BB",
    ]
    # Notify refusing a message: recorded as failed with Notify's reason.
    notify_server.status = 400
    refused = send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "P", "message": "x"},
        purpose="triage_response",
        channel="sms",
    )
    assert refused.status == "failed" and "team-only API key" in refused.reason


def test_contacts_from_the_identity_table_keep_what_staff_recorded(app_warehouse):
    from wraparound.apps.records.models import Patient

    # app refresh (the session's, tests/app/conftest.py) already synced them: again is a no-op
    assert ContactPreference.objects.filter(source="identity").exclude(phone="").exists()
    first = sync_from_identity(app_warehouse)
    assert (first["created"], first["updated"]) == (0, 0)
    pref = ContactPreference.objects.select_related("patient").first()
    assert Patient.objects.filter(pk=pref.patient_id).exists() and pref.source == "identity"
    set_preferences(pref.patient, phone="07700900999")
    again = sync_from_identity(app_warehouse)
    assert again["created"] == 0 and again["kept"] == 1
    assert ContactPreference.objects.get(pk=pref.pk).phone == "07700900999"


def test_contacts_bulk_sync_writes_what_the_orm_would_and_mends_changed_details(app_warehouse):
    """The sync writes tuples, not model instances: a row it creates holds the model's
    defaults, as one the ORM creates would, and a feed row changed in the app since is set
    back to the feed's details (with the time it changed), and only that row is written."""
    pref = ContactPreference.objects.filter(source="identity").exclude(phone="").first()
    feed = (pref.phone, pref.email, pref.postcode)
    patient_id = pref.patient_id
    pref.delete()
    kept = sync_from_identity(app_warehouse)
    assert (kept["created"], kept["updated"]) == (1, 0)
    made = ContactPreference.objects.get(patient_id=patient_id)
    defaults = ContactPreference(patient_id=patient_id)
    for field in ContactPreference._meta.concrete_fields:
        if field.name in ("id", "phone", "email", "postcode", "updated_at"):
            continue
        assert getattr(made, field.attname) == getattr(defaults, field.attname), field.name
    assert (made.phone, made.email, made.postcode) == feed and made.updated_at is not None

    ContactPreference.objects.filter(pk=made.pk).update(phone="07700900000", postcode="X1 1XX")
    before = ContactPreference.objects.get(pk=made.pk).updated_at
    assert sync_from_identity(app_warehouse) == {**kept, "created": 0, "updated": 1}
    mended = ContactPreference.objects.get(pk=made.pk)
    assert (mended.phone, mended.email, mended.postcode) == feed
    assert mended.updated_at >= before
    assert sync_from_identity(app_warehouse) == {**kept, "created": 0, "updated": 0}


def test_outbox_page_gated_and_audited(client, login, outbox):
    gp = User.objects.get(username="gp")
    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, phone="07700900123")
    send_message(
        patient=patient,
        template="free_text",
        personalisation={"practice": "P", "message": "Come in"},
        purpose="triage_response",
    )
    elsewhere = fresh_patient()
    set_preferences(elsewhere, phone="07700900124")
    send_message(
        patient=elsewhere,
        template="free_text",
        personalisation={"practice": "P", "message": "Other"},
        purpose="triage_response",
    )
    login("practice")
    before = AuditEvent.objects.count()
    response = client.get("/messages/")
    assert response.status_code == 200
    body = response.content.decode()
    assert patient.family_name.upper() in body and "Come in" in body
    assert elsewhere.family_name.upper() not in body  # not the user's practice, not sent by them
    assert AuditEvent.objects.count() == before + 1
    assert client.get("/messages/?status=bogus").status_code == 200
    for username in ("commissioner", "admin", "auditor"):
        login(username)
        before = AuditEvent.objects.count()
        response = client.get("/messages/")
        assert response.status_code == 403 and "Come in" not in response.content.decode()
        assert AuditEvent.objects.filter(action="denied", what="messages outbox").count() >= 1
        assert AuditEvent.objects.count() == before + 1
    assert gp.role_info.direct_care
