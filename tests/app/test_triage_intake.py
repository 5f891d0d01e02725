"""The portal's intake API (triage/intake.py) and the red-flag rules as data (triage/rules.py):
screening marks a request urgent or emergency with the advice to show, the request lands on
the patient's practice queue, bad input is refused and records nothing, and a malformed rules
file is refused naming the key."""

from __future__ import annotations

import pytest
from worlds import fresh_patient

from wraparound.apps.triage import rules
from wraparound.apps.triage.intake import IntakeError, submit_request
from wraparound.apps.triage.models import TriageRequest

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_routine_request_lands_on_the_practice_queue():
    patient = fresh_patient(at_gp_practice=True)
    req = submit_request(
        patient=patient, category="admin", answers={"request": "A fit note, please"}
    )
    assert (req.urgency, req.red_flags, req.match, req.source) == ("routine", [], "known", "portal")
    assert req.practice == patient.practice and req.status == "open"
    assert req.advice_card.card == "non-urgent" and req.reference.startswith("WR-")
    assert req.what_next.startswith("Your practice will read your request")


def test_red_flags_mark_it_urgent_with_what_to_do_now():
    patient = fresh_patient(at_gp_practice=True)
    chest = submit_request(patient=patient, answers={"request": "Tight chest", "chest_pain": "yes"})
    assert chest.urgency == "emergency" and chest.red_flags == ["chest_pain"]
    assert chest.advice_card.heading == "Call 999 or go to A&E now"
    words = submit_request(patient=patient, answers={"request": "I keep thinking about suicide"})
    assert (words.urgency, words.red_flags) == ("urgent", ["crisis_words"])
    assert "116 123" in " ".join(words.advice_card.lines)
    both = submit_request(
        patient=patient, answers={"request": "x", "suicidal_thoughts": "yes", "breathing": "yes"}
    )
    assert both.urgency == "emergency" and set(both.red_flags) == {"breathing", "suicidal_thoughts"}
    queue = list(TriageRequest.objects.filter(patient=patient))
    assert [r.urgency for r in queue] == ["emergency", "emergency", "urgent"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"answers": {}}, "request is required"),
        ({"answers": {"request": "x", "favourite_colour": "blue"}}, "unknown answers"),
        ({"answers": {"request": "x", "chest_pain": "maybe"}}, "must be yes or no"),
        ({"answers": {"request": "x" * 2001}}, "longer than 2000"),
        ({"answers": {"request": "x"}, "category": "gossip"}, "category must be"),
        ({"answers": {"request": "x"}, "kind": "self_referral"}, "online_consultation"),
    ],
)
def test_bad_requests_are_refused_and_record_nothing(kwargs, message):
    patient = fresh_patient(at_gp_practice=True)
    before = TriageRequest.objects.count()
    with pytest.raises(IntakeError, match=message):
        submit_request(patient=patient, **kwargs)
    assert TriageRequest.objects.count() == before


def test_every_form_loads_and_malformed_rules_are_refused():
    forms = rules.forms()
    assert {"physiotherapy", "talking_therapies", "counselling", "online_consultation"} <= set(
        forms
    )
    assert {f.id for f in rules.public_forms()} == {
        "physiotherapy",
        "talking_therapies",
        "counselling",
    }
    advice = rules.advice()
    base = {"id": "x", "title": "t", "service": "s", "what_next": "w"}
    question = {"id": "q", "label": "Q?", "kind": "yesno"}
    with pytest.raises(rules.RulesError, match="is not a question of the form"):
        rules.parse_form(
            {
                **base,
                "questions": [question],
                "red_flags": [
                    {
                        "question": "nope",
                        "urgency": "urgent",
                        "advice": "urgent",
                        "answers": ["yes"],
                    }
                ],
            },
            advice,
            "x.toml",
        )
    with pytest.raises(rules.RulesError, match="urgency must be"):
        rules.parse_form(
            {
                **base,
                "questions": [question],
                "red_flags": [
                    {"question": "q", "urgency": "soon", "advice": "urgent", "answers": ["yes"]}
                ],
            },
            advice,
            "x.toml",
        )
    with pytest.raises(rules.RulesError, match=r"not in advice\.toml"):
        rules.parse_form(
            {
                **base,
                "questions": [question],
                "red_flags": [
                    {"question": "q", "urgency": "urgent", "advice": "shrug", "answers": ["yes"]}
                ],
            },
            advice,
            "x.toml",
        )
    with pytest.raises(rules.RulesError, match="kind must be"):
        rules.parse_form({**base, "questions": [{**question, "kind": "slider"}]}, advice, "x.toml")
    with pytest.raises(rules.RulesError, match=r"needs a \[routine\]"):
        rules.parse_advice({"urgent": {"card": "urgent", "heading": "h"}})
    with pytest.raises(rules.RulesError, match="title is required"):
        rules.parse_form({"id": "x"}, advice, "x.toml")


def test_response_times_flow_back_as_app_events(tmp_path):
    import datetime as dt

    import pyarrow.parquet as pq

    from wraparound.analytics.indicators import definition
    from wraparound.analytics.indicators.inputs import _app_events
    from wraparound.apps.triage import events

    patient = fresh_patient(at_gp_practice=True)
    # Friday 18 December 2026, 10:00: two working days run to Tuesday 22nd.
    friday = dt.datetime(2026, 12, 18, 10, tzinfo=dt.UTC)
    on_time = submit_request(patient=patient, answers={"request": "a"})
    late = submit_request(patient=fresh_patient(at_gp_practice=True), answers={"request": "b"})
    unanswered = submit_request(
        patient=fresh_patient(at_gp_practice=True), answers={"request": "c"}
    )
    opted = fresh_patient(at_gp_practice=True)
    opted.opted_out = True
    opted.save()
    submit_request(patient=opted, answers={"request": "d"})
    TriageRequest.objects.filter(pk__in=[on_time.pk, late.pk, unanswered.pk]).update(
        received_at=friday
    )
    TriageRequest.objects.filter(pk=on_time.pk).update(
        first_response_at=dt.datetime(2026, 12, 22, 16, tzinfo=dt.UTC)
    )
    TriageRequest.objects.filter(pk=late.pk).update(
        first_response_at=dt.datetime(2026, 12, 23, 9, tzinfo=dt.UTC)
    )
    mine = {on_time.patient.pseudonym, late.patient.pseudonym, unanswered.patient.pseudonym}
    events.export(tmp_path)
    path = tmp_path / "app_events" / "triage_events.parquet"
    rows = [
        r for r in pq.read_table(path).to_pylist() if r["patient_id"] in mine | {opted.pseudonym}
    ]
    assert sorted((r["patient_id"] == on_time.patient.pseudonym, r["kind"]) for r in rows) == [
        (False, "triage_request_received"),
        (False, "triage_request_received"),
        (True, "triage_answered_within_2_working_days"),
        (True, "triage_request_received"),
    ]
    assert {r["date"] for r in rows} == {dt.date(2026, 12, 18)}
    assert _app_events([path]).num_rows >= 4  # the indicators accept the kinds
    [indicator] = [i for i in definition.load() if i.id == "triage_response_within_2_working_days"]
    assert indicator.source == "app" and indicator.type == "proportion"


def test_demo_seed_fills_the_queue_once():
    from wraparound.apps.triage.events import IN_TIME, collect
    from wraparound.apps.triage.seed import seed_demo

    TriageRequest.objects.all().delete()
    first = seed_demo()
    assert first["requests"] >= 80
    assert seed_demo() == first  # a second demo run adds nothing
    open_now = TriageRequest.objects.exclude(status="closed")
    assert open_now.count() == 4 and not open_now.filter(urgency="emergency").exists()
    assert open_now.filter(urgency="urgent", match="matched").count() == 1
    assert open_now.filter(match="ambiguous").count() == 1
    assert any(kind == IN_TIME for _, kind, _ in collect())
