"""Messages that fall due with time (``wraparound app messages send-due``, apps/portal/due.py):
an appointment reminder when due by data/portal/reminders.toml and not before or too late, a
Friends and Family Test offer after a touchpoint, each once however often the command runs,
and nothing to a patient who refused every channel (recorded as not sent, with the reason)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from typer.testing import CliRunner
from worlds import fresh_patient

from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment
from wraparound.apps.feedback.models import Offer
from wraparound.apps.messaging.api import set_preferences
from wraparound.apps.messaging.models import Message
from wraparound.apps.portal import due
from wraparound.apps.portal.models import ReminderSent
from wraparound.apps.portal.rules import PortalRulesError
from wraparound.apps.records.models import User
from wraparound.cli import app as cli_app

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

BASE = "https://wraparound.example.nhs.uk"


@pytest.fixture
def outbox(monkeypatch, tmp_path):
    monkeypatch.setenv("WRAPAROUND_MESSAGING_OUTBOX", str(tmp_path))
    monkeypatch.setenv("WRAPAROUND_PUBLIC_BASE_URL", BASE)

    def lines(to: str | None = None) -> list[dict]:
        path = tmp_path / "messages.jsonl"
        found = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return [x for x in found if to is None or x["to"] == to]

    return lines


def reachable(phone: str):
    patient = fresh_patient(at_gp_practice=True)
    set_preferences(patient, phone=phone, preferred_channel="sms")
    return patient


def appointment(patient, hours_ahead: float, status: str = "booked") -> Appointment:
    hub = create_hub(User.objects.get(username="hub").service)
    start = timezone.now() + dt.timedelta(hours=hours_ahead)
    return Appointment.objects.create(
        patient=patient,
        hub=hub,
        booking_org=patient.practice,
        start=start,
        end=start + dt.timedelta(minutes=15),
        mode="face_to_face",
        slot_type="routine",
        status=status,
        seen_at=start if status == "seen" else None,
    )


def test_a_due_reminder_is_sent_once_and_nothing_not_due(outbox):
    rule = due.reminder_rules()[0]
    assert (rule.code, rule.hours_before, rule.not_within_hours) == ("day_before", 24, 2)
    soon = reachable("07700900201")
    appt = appointment(soon, 20)
    too_early = reachable("07700900202")
    appointment(too_early, 30)  # due only from 24 hours before
    too_late = reachable("07700900203")
    appointment(too_late, 1)  # under 2 hours: too late to act on
    cancelled = reachable("07700900204")
    appointment(cancelled, 20, status="cancelled_patient")

    first = due.send_due()
    assert first["reminders"]["day_before"]["sent"] >= 1
    [line] = outbox("07700900201")
    assert line["template"] == "appointment_reminder" and line["purpose"] == "reminder"
    assert line["channel"] == "sms"
    assert f"sign in to the patient portal at {BASE}/portal/" in line["body"]
    claim = ReminderSent.objects.get(appointment=appt, code="day_before")
    assert claim.message.status == "sent" and claim.message.to == "07700900201"
    for phone in ("07700900202", "07700900203", "07700900204"):
        assert outbox(phone) == [], phone
    for patient in (too_early, too_late, cancelled):
        assert not Message.objects.filter(patient=patient).exists()

    # Run again (an hourly cron): nothing is sent twice.
    before = len(outbox())
    again = due.send_due()
    assert again["reminders"]["day_before"] == {"sent": 0, "not_sent": 0, "failed": 0}
    assert len(outbox()) == before
    assert Message.objects.filter(patient=soon, template="appointment_reminder").count() == 1
    # Six hours later the early one has come due, and only it is sent.
    later = due.send_reminders(timezone.now() + dt.timedelta(hours=7))
    assert later["day_before"]["sent"] >= 1
    assert len(outbox("07700900202")) == 1 and len(outbox("07700900201")) == 1


def test_a_patient_who_refused_every_channel_gets_nothing_and_it_is_recorded(outbox):
    refused = fresh_patient(at_gp_practice=True)
    set_preferences(
        refused,
        phone="07700900301",
        email="refused@example.org",
        preferred_channel="sms",
        no_sms=True,
        no_email=True,
    )
    appt = appointment(refused, 20)
    appointment(refused, -24, status="seen")  # a hub appointment yesterday: an FFT touchpoint
    due.send_due()
    assert outbox("07700900301") == [] and outbox("refused@example.org") == []
    reminder = ReminderSent.objects.get(appointment=appt).message
    assert reminder.status == "undeliverable"
    assert "asked not to be sent text messages" in reminder.reason
    offer = Offer.objects.get(patient=refused)
    assert offer.message_sent  # decided once: not offered again by every run
    feedback = Message.objects.get(patient=refused, purpose="feedback")
    assert feedback.status == "undeliverable"
    due.send_due()
    assert Message.objects.filter(patient=refused).count() == 2
    assert outbox("07700900301") == []


def test_a_refused_public_address_claims_nothing_and_the_next_run_sends(outbox, monkeypatch):
    """In production an http address is refused before any reminder is claimed, so none is
    lost: once the address is fixed, the next run sends it."""
    from wraparound.config import ConfigurationError

    patient = reachable("07700900601")
    appt = appointment(patient, 20)
    monkeypatch.setenv("WRAPAROUND_ENV", "production")
    monkeypatch.setenv("WRAPAROUND_PUBLIC_BASE_URL", "http://wraparound.example.nhs.uk")
    with pytest.raises(ConfigurationError, match="must be an https address"):
        due.send_due()
    assert not ReminderSent.objects.filter(appointment=appt).exists()
    assert outbox("07700900601") == []
    monkeypatch.setenv("WRAPAROUND_PUBLIC_BASE_URL", BASE)
    assert due.send_reminders()["day_before"]["sent"] >= 1
    assert len(outbox("07700900601")) == 1


def test_fft_offers_after_a_touchpoint_are_sent_once_with_the_absolute_link(outbox):
    patient = reachable("07700900401")
    appointment(patient, -24, status="seen")
    first = due.send_due()
    assert first["feedback"]["created"]["hub_appointment"] >= 1
    offer = Offer.objects.get(patient=patient)
    [line] = outbox("07700900401")
    assert line["template"] == "feedback_invitation"
    assert line["personalisation"]["link"] == f"{BASE}/feedback/{offer.token}"
    due.send_due()
    assert len(outbox("07700900401")) == 1 and Offer.objects.filter(patient=patient).count() == 1


def test_the_command_sends_what_is_due_and_a_rerun_sends_nothing(outbox):
    patient = reachable("07700900501")
    appointment(patient, 20)
    runner = CliRunner()
    first = runner.invoke(cli_app, ["app", "messages", "send-due", "--no-progress"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["reminders"]["day_before"]["sent"] >= 1
    assert len(outbox("07700900501")) == 1
    second = runner.invoke(cli_app, ["app", "messages", "send-due", "--no-progress"])
    assert second.exit_code == 0, second.output
    result = json.loads(second.stdout)
    assert result["reminders"]["day_before"] == {"sent": 0, "not_sent": 0, "failed": 0}
    assert result["feedback"]["sent"] == 0
    assert len(outbox("07700900501")) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"reminders": []}, "at least one"),
        ({"reminders": [{"code": "x", "hours_before": -1}]}, "hours_before must be"),
        ({"reminders": [{"code": "x", "hours_before": 2, "not_within_hours": 3}]}, "under"),
        (
            {"reminders": [{"code": "x", "hours_before": 24, "template": "nope"}]},
            "unknown message template",
        ),
        (
            {"reminders": [{"code": "x", "hours_before": 24, "template": "appointment_reminder"}]},
            "unknown message purpose",
        ),
    ],
)
def test_the_reminders_file_is_checked(bad, message):
    with pytest.raises(PortalRulesError, match=message):
        due.parse_reminders(bad)
