"""Letters back to the GP (issue 14): contacts that need a letter (data/letters.toml) become
expected letters due by the 2nd operational day (England's bank holidays excluded), met by a
letter from the same provider for the same patient; refresh loads them idempotently; a
letter missing long enough escalates once to the practice's care co-ordinator as a task; the
dashboard shows the share on time per provider and service and the overdue list (audited)
to practice roles, shares only to commissioners, nothing to others; app events for the
indicator letters_within_2_operational_days."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
from builders import write_tables
from django.urls import reverse
from django.utils import timezone
from worlds import fresh_patient

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA
from wraparound.apps.care.models import Task
from wraparound.apps.letters import events
from wraparound.apps.letters.load import load_letters
from wraparound.apps.letters.models import ExpectedLetter
from wraparound.apps.letters.rules import add_operational_days, operational_days_between
from wraparound.apps.records.models import AuditEvent
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_operational_days_skip_weekends_and_englands_bank_holidays():
    # Thursday 24 December 2026: Christmas Friday, the weekend, Boxing Day moved to Monday 28
    assert add_operational_days(dt.date(2026, 12, 24), 1) == dt.date(2026, 12, 29)
    assert add_operational_days(dt.date(2026, 12, 24), 2) == dt.date(2026, 12, 30)
    assert add_operational_days(dt.date(2026, 11, 6), 2) == dt.date(2026, 11, 10)  # Fri
    assert operational_days_between(dt.date(2026, 11, 6), dt.date(2026, 11, 10)) == 2


def at(days_ago: float, hour: int = 10) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def world(tmp_path):
    on_time, late, missing, recent, old = (fresh_patient(at_gp_practice=True) for _ in range(5))
    enc = [
        {"id": "op-1", "patient_id": on_time.pseudonym, "kind": "outpatient", "org_id": "RX1",
         "specialty": "330", "start": at(30), "end": at(30, 11), "status": "attended"},
        {"id": "ae-1", "patient_id": late.pseudonym, "kind": "ae_attendance", "org_id": "RX1",
         "start": at(30), "end": at(30, 14), "status": "attended"},
        {"id": "em-1", "patient_id": missing.pseudonym, "kind": "emergency_admission",
         "org_id": "RX1", "start": at(20), "end": at(10), "status": "attended"},
        {"id": "ae-old", "patient_id": old.pseudonym, "kind": "ae_attendance", "org_id": "RX1",
         "start": at(60), "status": "attended"},  # long overdue: on the list, no task now
        {"id": "op-2", "patient_id": recent.pseudonym, "kind": "outpatient", "org_id": "RX1",
         "start": at(0, 0), "status": "attended"},
        {"id": "op-dna", "patient_id": on_time.pseudonym, "kind": "outpatient",
         "org_id": "RX1", "start": at(20), "status": "dna"},  # no letter needed
    ]  # fmt: skip
    letters = [
        {"id": "let-1", "patient_id": on_time.pseudonym, "org_id": "RX1",
         "encounter_id": "op-1", "date": at(30, 17)},
        # no encounter_id: matched by patient and provider, on or after the contact
        {"id": "let-2", "patient_id": late.pseudonym, "org_id": "RX1", "contact_start": at(30),
         "date": at(20)},
    ]  # fmt: skip
    wh = write_tables(tmp_path / "wh", {"encounters": enc, "letters": letters})
    with connect(wh) as engine:
        summary = load_letters(engine)
    return {
        "wh": wh, "summary": summary, "on_time": on_time, "late": late, "missing": missing,
        "recent": recent, "old": old,
    }  # fmt: skip


def test_expected_letters_met_late_missing_and_escalated_once(world):
    assert world["summary"] == {
        "expected": 5,
        "escalated": 1,
        "feed": True,
        "touched_only": False,
        "aged_patients": frozenset(),
    }
    rows = {
        e.encounter_id: e
        for e in ExpectedLetter.objects.filter(patient__pseudonym__startswith="fresh-")
    }
    assert set(rows) == {"op-1", "ae-1", "em-1", "op-2", "ae-old"}  # a DNA needs none
    assert rows["op-1"].on_time and rows["op-1"].letter_id == "let-1"
    assert rows["op-1"].service == "Dermatology" and rows["ae-1"].service == "A&E attendance"
    assert rows["ae-1"].received_at is not None and not rows["ae-1"].on_time
    assert rows["em-1"].due == add_operational_days(at(10).date(), 2)  # from the discharge
    assert rows["em-1"].received_at is None and rows["em-1"].escalated_at is not None
    task = Task.objects.get(patient=world["missing"], source="letters")
    assert task.assignee.username == "coordinator"
    assert "Chase the letter from RX1" in task.what
    # a second refresh changes nothing and escalates nothing again
    with connect(world["wh"]) as engine:
        again = load_letters(engine)
    assert (again["expected"], again["escalated"], again["feed"]) == (5, 0, True)
    assert Task.objects.filter(source="letters").count() == 1
    # app events for the indicator: three letters due (the recent one is not), one on time
    assert rows["ae-old"].escalated_at is None
    mine = {world[k].pseudonym for k in ("on_time", "late", "missing", "recent")}
    found = [(p, kind) for p, kind, _ in events.collect().iter_rows() if p in mine]
    assert sorted(kind for _, kind in found) == [
        "letter_expected", "letter_expected", "letter_expected",
        "letter_within_2_operational_days",
    ]  # fmt: skip
    # the file the indicators read: the same events, in the app-event schema, sorted
    assert events.export(world["wh"].root) == len(events.collect())
    written = pq.read_table(paths.app_events_dir(world["wh"].root) / events.FILE_NAME)
    assert [(f.name, f.type) for f in written.schema] == [
        (f.name, f.type) for f in APP_EVENT_SCHEMA
    ]
    triples = [(r["patient_id"], r["kind"], r["date"]) for r in written.to_pylist()]
    assert triples == sorted(triples)
    assert sorted((p, kind) for p, kind, _ in triples if p in mine) == sorted(found)


def test_dashboard_for_the_practice_commissioner_and_refused(client, login, world):
    login("gp")
    response = client.get(reverse("letters_dashboard"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Dermatology" in text and "100.0%" in text and "0.0%" in text
    assert str(world["missing"]) in text and "Escalated" in text  # the overdue list
    assert str(world["old"]) in text
    assert str(world["recent"]) not in text  # not due yet
    assert AuditEvent.objects.filter(
        username="gp", action="read", what__startswith="letters dashboard: 2 overdue"
    ).exists()
    login("commissioner")
    shares = client.get(reverse("letters_dashboard")).content.decode()
    assert "Dermatology" in shares and str(world["missing"]) not in shares
    login("nurse")
    assert client.get(reverse("letters_dashboard")).status_code == 403
    assert AuditEvent.objects.filter(username="nurse", outcome="denied").exists()
    login("gp")
    assert client.get(reverse("letters_dashboard"), {"practice": "nowhere"}).status_code == 400


def test_no_letters_feed_expects_nothing(tmp_path):
    patient = fresh_patient(at_gp_practice=True)
    enc = [{"id": "op-x", "patient_id": patient.pseudonym, "kind": "outpatient",
            "start": at(30), "status": "attended", "org_id": "RX1"}]  # fmt: skip
    wh = write_tables(tmp_path / "wh", {"encounters": enc})
    with connect(wh) as engine:
        assert load_letters(engine) == {"expected": 0, "escalated": 0, "feed": False}
    assert not ExpectedLetter.objects.filter(patient=patient).exists()
