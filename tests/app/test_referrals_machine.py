"""The referral state machine (data/referrals/transitions.toml through machine.py): advice
and guidance first, every legal path, every illegal move refused with a clear message and
nothing written; the relationship the receiving service holds in each state; working-day
timers with England's bank holidays; the data files checked when loaded."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from referrals_world import world

from wraparound.apps.records import relationships
from wraparound.apps.referrals import machine, rules, timers
from wraparound.apps.referrals.models import Referral, ReferralEvent

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def _kinds(user, patient):
    return {r.kind for r in relationships.current(user, patient)}


def test_advice_first_then_accepted_holds_and_ends_the_relationship():
    w = world()
    patient, gp, derm = w["patient"], w["gp"], w["dermatologist"]
    assert relationships.first_allowing(derm, patient, "read") is None
    ref = machine.create(patient=patient, service=w["derm"], referrer=gp, reason="Itchy plaque")
    assert ref.state == "draft" and ref.due is None
    assert _kinds(derm, patient) == set()  # a draft is the referrer's alone
    machine.apply(ref, "request_advice", gp)
    assert ref.state == "advice_requested"
    assert ref.due == timers.add_working_days(ref.state_since.date(), w["derm"].advice_days)
    assert _kinds(derm, patient) == {"referral_advice"}
    assert relationships.first_allowing(derm, patient, "read").kind == "referral_advice"
    assert relationships.first_allowing(derm, patient, "review.record") is None
    machine.apply(ref, "give_advice", derm, message="Try a potent steroid for 4 weeks")
    assert ref.state == "advice_given" and ref.messages.get().side == "provider"
    machine.apply(ref, "accept_advice", gp)
    assert (ref.state, ref.open) == ("advice_accepted", False)
    assert _kinds(derm, patient) == set()  # closed: no relationship
    steps = list(ref.events.values_list("transition", flat=True))
    assert steps == ["create", "request_advice", "give_advice", "accept_advice"]


def test_converted_referral_goes_through_triage_to_discharge():
    w = world()
    patient, gp, derm = w["patient"], w["gp"], w["dermatologist"]
    ref = machine.create(patient=patient, service=w["derm"], referrer=gp, reason="Lesion")
    machine.apply(ref, "request_advice", gp)
    machine.apply(ref, "give_advice", derm, message="Needs to be seen")
    machine.apply(ref, "convert", gp)
    assert ref.state == "awaiting_triage"  # referred, then received at once (auto)
    assert [e.transition for e in ref.events.all()][-2:] == ["convert", "receive"]
    assert _kinds(derm, patient) == {"referral_triage"}
    for step in ("accept", "book", "see"):
        machine.apply(ref, step, derm)
    assert _kinds(derm, patient) == {"referral_care"}
    assert relationships.first_allowing(derm, patient, "review.record").kind == "referral_care"
    with pytest.raises(machine.TransitionError, match="needs the discharge letter"):
        machine.apply(ref, "discharge", derm)
    machine.apply(ref, "discharge", derm, letter=("letter.pdf", "application/pdf", b"%PDF-1"))
    assert (ref.state, ref.open) == ("discharged", False)
    assert ref.attachments.get().letter


def test_provider_converts_where_authorised_and_red_flags_bypass_advice():
    w = world()
    patient, gp, derm = w["patient"], w["gp"], w["dermatologist"]
    ref = machine.create(patient=patient, service=w["derm"], referrer=gp, reason="Mole")
    with pytest.raises(machine.TransitionError, match="advice and guidance first"):
        machine.apply(ref, "refer", gp)
    machine.apply(ref, "request_advice", gp)
    machine.apply(ref, "provider_convert", derm, message="Suspicious: converting")
    assert ref.state == "awaiting_triage"
    w["derm"].provider_may_convert = False
    w["derm"].save()
    other = machine.create(patient=patient, service=w["derm"], referrer=gp, reason="Rash")
    machine.apply(other, "request_advice", gp)
    with pytest.raises(machine.TransitionError, match="not authorised to convert"):
        machine.apply(other, "provider_convert", derm, message="x")
    flagged = machine.create(
        patient=patient, service=w["derm"], referrer=gp, reason="7-point 4", red_flag=True
    )
    machine.apply(flagged, "refer", gp)
    assert flagged.state == "awaiting_triage"


@pytest.mark.parametrize(
    ("state_steps", "code", "who", "message"),
    [
        ((), "give_advice", "dermatologist", "not possible: the referral is draft"),
        (("request_advice",), "accept_advice", "gp", "not possible"),
        (("request_advice",), "give_advice", "gp", "is for the receiving service"),
        (("request_advice",), "withdraw", "dermatologist", "is for the referrer"),
        (("request_advice",), "give_advice", "dermatologist", "needs a message"),
        (("request_advice",), "fly", "gp", "there is no step 'fly'"),
        (("request_advice",), "withdraw", "gp", "needs a reason from the list"),
        (("request_advice",), "withdraw", "coordinator", "is for the referrer"),
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(state_steps, code, who, message):
    w = world()
    ref = machine.create(patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="x")
    for step in state_steps:
        machine.apply(ref, step, w["gp"])
    before = (ref.state, ReferralEvent.objects.count())
    with pytest.raises(machine.TransitionError, match=message):
        machine.apply(ref, code, w[who])
    ref.refresh_from_db()
    assert (ref.state, ReferralEvent.objects.count()) == before


def test_every_transition_of_the_data_is_reachable_and_closed_states_are_final():
    for m in rules.machines().values():
        reached, frontier = {m.initial}, [m.initial]
        while frontier:
            for t in m.leaving(frontier.pop()):
                if t.to not in reached:
                    reached.add(t.to)
                    frontier.append(t.to)
        assert reached == set(m.states), m.code
        for state in m.states.values():
            assert bool(m.leaving(state.code)) == state.open, state.code


def test_the_data_file_is_checked():
    good = {
        "machine": {
            "m": {
                "initial": "a",
                "state": {
                    "a": {"label": "A", "open": True, "task_status": "requested"},
                    "b": {"label": "B", "open": False, "task_status": "completed"},
                },
                "transition": [
                    {"code": "go", "label": "Go", "from": ["a"], "to": "b", "by": "provider"}
                ],
            }
        }
    }
    assert rules.parse_machines(good, kinds=set())["m"].transition("go").to == "b"
    bad_cases = [
        (("state", "a", "relationship"), "nosuch", "not a kind"),
        (("state", "a", "task_status"), "pending", "FHIR Task status"),
        (("transition", 0, "to"), "z", "from and to"),
        (("transition", 0, "by"), "anyone", "by must be"),
        (("transition", 0, "guard"), "always", "unknown guard"),
        (("transition", 0, "creates"), "a", "go together"),  # creates without needs service
        (("transition", 0, "creates"), "nosuch", "creates must name"),
        (("transition", 0, "needs"), ["service"], "go together"),  # a service, nothing made
    ]
    for path, value, message in bad_cases:
        import copy

        data = copy.deepcopy(good)
        node = data["machine"]["m"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(rules.RulesError, match=message):
            rules.parse_machines(data, kinds=set())
    assert set(relationships.policy().kinds) >= {
        "referral_advice",
        "referral_triage",
        "referral_care",
    }


def test_working_days_skip_weekends_and_english_bank_holidays():
    # Thursday 24 December 2026: Friday is Christmas, Monday 28th the Boxing Day substitute.
    assert timers.add_working_days(dt.date(2026, 12, 24), 1) == dt.date(2026, 12, 29)
    assert timers.add_working_days(dt.date(2026, 12, 24), 2) == dt.date(2026, 12, 30)
    assert timers.working_days_between(dt.date(2026, 12, 24), dt.date(2026, 12, 30)) == 2
    assert timers.add_working_days(dt.date(2026, 5, 22), 1) == dt.date(2026, 5, 26)  # spring bank


def test_overdue_surfaces_by_due_date():
    w = world()
    at = dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC)
    ref = machine.create(
        patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="x", at=at
    )
    machine.apply(ref, "request_advice", w["gp"], at=at)
    assert ref.due == dt.date(2026, 12, 30)  # 2 working days
    assert not machine.overdue(ref, dt.date(2026, 12, 30))
    assert machine.overdue(ref, dt.date(2026, 12, 31))
    assert Referral.objects.filter(open=True, due__lt=dt.date(2026, 12, 31)).filter(pk=ref.pk)


def test_centre_request_to_transport_and_its_relationship():
    w = world()
    req = machine.create(
        patient=w["patient"],
        service=w["transport"],
        referrer=w["coordinator"],
        reason="Wheelchair transport to eye clinic",
        machine="request",
    )
    assert req.state == "requested" and req.due is not None
    assert _kinds(w["driver"], w["patient"]) == {"referral_triage"}
    machine.apply(req, "book", w["driver"])
    machine.apply(req, "complete", w["driver"])
    assert not req.open and _kinds(w["driver"], w["patient"]) == set()
    with pytest.raises(machine.TransitionError, match="takes no referral or bookable"):
        svc = w["derm"]
        svc.routes = ["advice_and_guidance"]
        machine.create(
            patient=w["patient"], service=svc, referrer=w["gp"], reason="x", machine="request"
        )


def test_fhir_service_request_and_task_round_trip():
    from wraparound.apps.referrals import fhir
    from wraparound.sources.fhir.validate import structural_problems

    w = world()
    ref = machine.create(
        patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="Mole", red_flag=True
    )
    machine.apply(ref, "refer", w["gp"])
    machine.apply(ref, "reject", w["dermatologist"], reason="criteria_not_met")
    bundle = fhir.to_fhir(ref)
    sr, task = (e["resource"] for e in bundle["entry"])
    assert structural_problems(sr) is None and structural_problems(task) is None
    assert (sr["intent"], sr["status"], task["status"]) == ("order", "revoked", "rejected")
    assert task["businessStatus"]["coding"][0]["code"] == "rejected"

    def strip(b):
        out = json.loads(json.dumps(b))
        for e in out["entry"]:
            e["resource"].pop("id")
            e["resource"].pop("focus", None)
        return out

    ReferralEvent.objects.filter(referral=ref).delete()
    Referral.objects.filter(pk=ref.pk).delete()
    back = fhir.import_bundle(bundle)
    assert back.pk != ref.pk and strip(fhir.to_fhir(back)) == strip(bundle)
    assert fhir.import_bundle(bundle).pk == back.pk  # idempotent on the identifier
    task["status"] = "completed"
    with pytest.raises(fhir.FhirError, match="does not match state"):
        fhir.import_bundle(bundle)
    task["status"] = "nonsense"
    with pytest.raises(fhir.FhirError, match="Task"):
        fhir.import_bundle(bundle)
