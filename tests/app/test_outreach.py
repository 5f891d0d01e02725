"""Proactive outreach (issue 14): cohorts as data built over a hand-built warehouse (through
the engine) and the app's state, worked out by hand; the call list and batch invitations
throttled to free hub capacity, preferred contact honoured by messaging; contacts and
responses recorded; denials, bad input and the CLI's clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from builders import write_tables
from django.utils import timezone
from typer.testing import CliRunner
from worlds import patients

from wraparound.apps.access.hubs import create_hub
from wraparound.apps.access.models import Appointment, Slot
from wraparound.apps.care.models import CarePlan, CarePlanVersion
from wraparound.apps.messaging.api import set_preferences
from wraparound.apps.messaging.models import Message
from wraparound.apps.outreach import cohorts
from wraparound.apps.outreach.build import build
from wraparound.apps.outreach.models import CallListEntry, ContactAttempt
from wraparound.apps.records.models import AuditEvent, Patient, User
from wraparound.apps.registers.models import RegisterEntry, RegisterRun
from wraparound.cli import app as cli_app

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

ON = dt.date(2026, 11, 15)  # the flu season began on 1 September 2026
FLU = "822851000000102"
ANTICOAGULANT = "703908001"  # apixaban, in oral_anticoagulant_dmd
REVIEW = "182836005"


def born(age: int) -> dt.date:
    return dt.date(ON.year - age - 1, 12, 31)


def ts(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC)


PEOPLE = {
    # name: (age, opted out, died)
    "Avery": (70, False, None),  # 65+, never vaccinated: flu list; high needs, no plan
    "Blake": (70, False, None),  # vaccinated this season: not on the flu list
    "Casey": (70, False, None),  # vaccinated last season only: on it; high needs with a plan
    "Devon": (60, False, None),  # under 65
    "Ellis": (80, False, dt.date(2026, 10, 1)),  # died: registered no longer
    "Frank": (75, True, None),  # national data opt-out: direct care keeps them
    "Gray": (50, False, None),  # anticoagulant, no review: on the medicines list
    "Harper": (50, False, None),  # anticoagulant and reviewed: not
    "Indy": (40, False, None),  # two DNAs in the warehouse
    "Jules": (40, False, None),  # one in the warehouse, one at an app hub: two
    "Kit": (40, False, None),  # one DNA, and one eight months ago: not
}


def tiny_warehouse(root):
    rows = {k: [] for k in ("patients", "registrations", "procedures", "medications")}
    rows["encounters"] = []
    rows["conditions"] = []
    for name, (age, opted_out, died) in PEOPLE.items():
        pid = f"op-{name}"
        rows["patients"].append(
            {
                "patient_id": pid,
                "birth_date": born(age),
                "sex": "female",
                "lsoa": "L1",
                "opted_out": opted_out,
                "death_date": died,
            }
        )
        rows["registrations"].append(
            {"patient_id": pid, "practice_id": "P1", "start_date": dt.date(2000, 1, 1)}
        )

    def proc(name, code, day):
        rows["procedures"].append(
            {"patient_id": f"op-{name}", "system": "snomed", "code": code, "date": day}
        )

    def med(name, day):
        rows["medications"].append(
            {
                "patient_id": f"op-{name}",
                "system": "snomed",
                "code": ANTICOAGULANT,
                "start_date": day,
                "kind": "request",
            }
        )

    def dna(name, day):
        rows["encounters"].append(
            {
                "patient_id": f"op-{name}",
                "kind": "gp_appointment",
                "start": ts(day),
                "status": "dna",
            }
        )

    proc("Blake", FLU, dt.date(2026, 10, 1))
    proc("Casey", FLU, dt.date(2026, 8, 20))
    med("Gray", dt.date(2026, 9, 1))
    med("Harper", dt.date(2026, 9, 1))
    proc("Harper", REVIEW, dt.date(2026, 8, 1))
    dna("Indy", dt.date(2026, 7, 1))
    dna("Indy", dt.date(2026, 10, 1))
    dna("Jules", dt.date(2026, 9, 1))
    dna("Kit", dt.date(2026, 9, 1))
    dna("Kit", dt.date(2026, 3, 1))
    rows["organisations"] = [
        {"org_id": "LOC", "kind": "locality"},
        {"org_id": "N1", "kind": "neighbourhood", "parent_id": "LOC"},
        {"org_id": "P1", "kind": "practice", "parent_id": "N1"},
    ]
    rows["areas"] = [{"lsoa": "L1", "imd_decile": 3}]
    write_tables(root, rows)
    return root


def app_world():
    """The same people in the app, at the demo GP's practice; Avery and Casey in the
    high-needs stream, Casey with an agreed care plan; Jules with a DNA at an app hub."""
    gp = User.objects.get(username="gp")
    practice = gp.scope_org
    made = {}
    for i, (name, (age, opted_out, died)) in enumerate(PEOPLE.items()):
        made[name] = Patient.objects.create(
            pseudonym=f"op-{name}",
            nhs_number=f"97{i:08d}",
            given_name=name,
            family_name="Outreach",
            birth_date=born(age),
            practice=practice,
            neighbourhood=practice.parent,
            opted_out=opted_out,
            death_date=died,
        )
    run = RegisterRun.objects.get(current=True)
    for name in ("Avery", "Casey"):
        RegisterEntry.objects.create(
            run=run,
            patient=made[name],
            practice=practice,
            neighbourhood=practice.parent,
            score=0.9,
            risk_band="high",
            percentile=99.0,
            stream="high_needs",
        )
    plan = CarePlan.objects.create(patient=made["Casey"])
    CarePlanVersion.objects.create(
        plan=plan,
        number=1,
        what_matters="Home",
        goals="Garden",
        author=gp,
        agreed=True,
        agreed_on=dt.date(2026, 6, 1),
    )
    hub = create_hub(User.objects.get(username="hub").service)
    Appointment.objects.create(
        patient=made["Jules"],
        hub=hub,
        booking_org=practice,
        start=ts(dt.date(2026, 10, 20)),
        end=ts(dt.date(2026, 10, 20)) + dt.timedelta(minutes=15),
        mode="face_to_face",
        slot_type="routine",
        status="did_not_attend",
    )
    return made, hub


def names(made_build) -> set[str]:
    return set(
        CallListEntry.objects.filter(build=made_build).values_list("patient__given_name", flat=True)
    )


def test_cohorts_build_by_hand_over_the_warehouse_and_the_app(tmp_path):
    warehouse = tiny_warehouse(tmp_path / "wh")
    app_world()
    flu = build("flu_65_unvaccinated", warehouse, on=ON)
    assert names(flu) == {"Avery", "Casey", "Frank"}
    assert flu.found == 3 and flu.size == 3 and flu.left_out["opted_out"] == 0
    assert set(flu.seconds) == {"warehouse", "app", "store", "total"}
    assert names(build("high_risk_medicine_no_review", warehouse, on=ON)) == {"Gray"}
    assert names(build("missed_appointments", warehouse, on=ON)) == {"Indy", "Jules"}
    assert names(build("high_needs_no_care_plan", warehouse, on=ON)) == {"Avery"}

    # A cohort that is not direct care leaves opted-out patients out, and says so.
    secondary = dataclasses.replace(cohorts.get("flu_65_unvaccinated"), direct_care=False)
    again = build(secondary, warehouse, on=ON)
    assert names(again) == {"Avery", "Casey"} and again.left_out["opted_out"] == 1
    # Only the newest build of a cohort is current.
    assert not type(flu).objects.get(pk=flu.pk).current


def free_slots(hub, n):
    start = timezone.now() + dt.timedelta(days=1)
    site = hub.sites.first()
    for i in range(n):
        Slot.objects.create(
            hub=hub,
            site=site,
            role="gp",
            mode="face_to_face",
            slot_type="routine",
            start=start + dt.timedelta(minutes=15 * i),
            end=start + dt.timedelta(minutes=15 * (i + 1)),
            released_to_patients_at=start - dt.timedelta(days=2),
        )


def test_call_list_batch_throttled_to_hub_capacity_and_contacts_recorded(client, login, tmp_path):
    warehouse = tiny_warehouse(tmp_path / "wh")
    made, hub = app_world()
    set_preferences(made["Avery"], phone="07700900001", preferred_channel="sms", large_print=True)
    set_preferences(made["Frank"], email="frank@example.org", preferred_channel="email")
    flu = build("flu_65_unvaccinated", warehouse, on=ON)  # Avery, Casey, Frank, in that order
    free_slots(hub, 2)

    login("gp")
    page = client.get("/outreach/flu_65_unvaccinated/")
    html = page.content.decode()
    assert page.status_code == 200 and "Avery" in html and made["Avery"].nhs_number in html
    assert "prefers" in html and "large print" in html and "2 available" in html
    assert AuditEvent.objects.filter(what__startswith="outreach call list flu_65").count() == 1

    # Bad input changes nothing.
    for bad in ({"limit": "abc"}, {"limit": "0"}, {"limit": "501"}, {}):
        assert client.post("/outreach/flu_65_unvaccinated/send", bad).status_code == 400
    assert ContactAttempt.objects.count() == 0 and Message.objects.count() == 0

    sent = client.post("/outreach/flu_65_unvaccinated/send", {"limit": "10"})
    assert sent.status_code == 302
    states = dict(
        CallListEntry.objects.filter(build=flu).values_list("patient__given_name", "state")
    )
    # Two slots free: two invitations tried. Avery by SMS; Casey has no contact details.
    assert states == {"Avery": "messaged", "Casey": "undeliverable", "Frank": "to_contact"}
    message = Message.objects.get(patient=made["Avery"])
    assert message.channel == "sms" and message.purpose == "outreach"
    assert "your flu vaccination" in message.body
    casey = ContactAttempt.objects.get(entry__patient=made["Casey"])
    assert casey.outcome == "undeliverable" and casey.note
    after = client.get("/outreach/flu_65_unvaccinated/").content.decode()
    assert "1 invitations outstanding" in after and "1 available" in after

    # The next batch has room for one: Frank, by email, as he prefers.
    client.post("/outreach/flu_65_unvaccinated/send", {"limit": "10"})
    assert Message.objects.get(patient=made["Frank"]).channel == "email"
    client.post("/outreach/flu_65_unvaccinated/send", {"limit": "10"})  # no room now
    assert Message.objects.filter(purpose="outreach", status="sent").count() == 2
    assert Message.objects.filter(purpose="outreach").count() == 3  # and Casey's, undeliverable

    # A phone call to Casey, recorded on the patient's outreach page.
    url = f"/patients/{made['Casey'].pk}/outreach/"
    entry = CallListEntry.objects.get(build=flu, patient=made["Casey"])
    other = CallListEntry.objects.get(build=flu, patient=made["Avery"])
    for bad in (
        {"entry": entry.pk, "method": "phone", "outcome": "maybe"},
        {"entry": entry.pk, "method": "carrier_pigeon", "outcome": "booked"},
        {"entry": other.pk, "method": "phone", "outcome": "booked"},
        {"entry": "x", "method": "phone", "outcome": "booked"},
    ):
        assert client.post(url, bad).status_code == 400, bad
    assert client.post(url, {"entry": entry.pk, "method": "phone"}).status_code == 400
    assert ContactAttempt.objects.filter(entry=entry).count() == 1
    done = client.post(url, {"entry": entry.pk, "method": "phone", "outcome": "booked"})
    assert done.status_code == 302
    entry.refresh_from_db()
    assert entry.state == "booked"
    call = ContactAttempt.objects.filter(entry=entry).last()
    assert (call.method, call.outcome, call.by.username) == ("phone", "booked", "gp")
    shown = client.get(url).content.decode()
    assert "Phone call" in shown and "Booked" in shown


def test_outreach_denials(client, login, tmp_path):
    warehouse = tiny_warehouse(tmp_path / "wh")
    app_world()
    build("flu_65_unvaccinated", warehouse, on=ON)
    world = patients()
    login("commissioner")
    index = client.get("/outreach/")
    assert index.status_code == 200 and "Avery" not in index.content.decode()
    assert client.get("/outreach/flu_65_unvaccinated/").status_code == 403
    assert client.post("/outreach/flu_65_unvaccinated/send", {"limit": "5"}).status_code == 403
    for username in ("nurse", "hub", "admin", "auditor"):
        login(username)
        assert client.get("/outreach/").status_code == 403, username
        assert client.get("/outreach/flu_65_unvaccinated/").status_code == 403, username
    assert AuditEvent.objects.filter(what__startswith="outreach", outcome="denied").count() >= 9
    login("gp")
    assert client.get("/outreach/no_such_cohort/").status_code == 404
    assert client.get("/outreach/flu_65_unvaccinated/?page=abc").status_code == 400
    assert client.get("/outreach/flu_65_unvaccinated/?state=nope").status_code == 400
    assert client.get("/outreach/flu_65_unvaccinated/send").status_code == 405
    # The patient page goes through the gate: no relationship, refused and audited.
    stranger = world["stranger"]
    assert client.get(f"/patients/{stranger.pk}/outreach/").status_code == 403
    assert Message.objects.count() == 0


def test_cli_builds_and_refuses_bad_input_clearly(tmp_path, settings):
    warehouse = tiny_warehouse(tmp_path / "wh")
    app_world()
    runner = CliRunner()
    bad = runner.invoke(
        cli_app, ["app", "outreach", "build", "nope", "--warehouse", str(warehouse)]
    )
    assert bad.exit_code != 0 and "no outreach cohort 'nope'" in bad.output
    bad = runner.invoke(
        cli_app,
        [
            "app",
            "outreach",
            "build",
            "missed_appointments",
            "--warehouse",
            str(warehouse),
            "--as-of",
            "15/11/2026",
        ],
    )
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    ok = runner.invoke(
        cli_app,
        [
            "app",
            "outreach",
            "build",
            "missed_appointments",
            "--warehouse",
            str(warehouse),
            "--as-of",
            ON.isoformat(),
        ],
    )
    assert ok.exit_code == 0, ok.output
    result = json.loads(ok.output[ok.output.index("{") :])
    assert result["on_call_list"] == 2 and result["found_in_warehouse"] == 2


def test_cohort_files_are_checked():
    assert set(cohorts.library()) == {
        "flu_65_unvaccinated",
        "high_risk_medicine_no_review",
        "missed_appointments",
        "high_needs_no_care_plan",
    }
    good = {
        "id": "x_cohort",
        "title": "t",
        "description": "d",
        "kind": "recall",
        "direct_care": True,
        "what": "w",
        "how_to_book": "h",
        "criteria": [{"missed_appointments": 2, "within_months": 6}],
    }
    assert cohorts.parse(good, "x_cohort").criteria[0].op == "missed_appointments"
    broken = [
        ({**good, "id": "other"}, "id must equal"),
        ({**good, "kind": "party"}, "kind must be"),
        ({**good, "colour": "red"}, "unknown key 'colour'"),
        ({**good, "criteria": [{"no_procedure": "nope", "within_months": 1}]}, "unknown code list"),
        ({**good, "criteria": [{"missed_appointments": 2}]}, "within_months"),
        ({**good, "criteria": [{"risk_stream": ["purple"]}]}, "risk_stream"),
        (
            {
                **good,
                "criteria": [
                    {
                        "no_procedure": "flu_vaccination_cod",
                        "since": "season",
                        "season_start": "13-01",
                    }
                ],
            },
            "MM-DD",
        ),
        (
            {**good, "criteria": [{"no_care_plan": True, "risk_stream": ["high_needs"]}]},
            "exactly one",
        ),
        ({**good, "criteria": []}, "at least one criterion"),
        ({**good, "population": {"registers": ["nope"]}}, "registers"),
    ]
    for bad, message in broken:
        with pytest.raises(cohorts.CohortError, match=message):
            cohorts.parse(bad, "x_cohort")
