"""The demo's year of referral history and the referral events written back: every seeded
referral sits in a state its events reach along the machine's transitions, and the export
carries one row per step, opted-out patients left out."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from wraparound.apps.referrals import events, rules
from wraparound.apps.referrals.models import Referral
from wraparound.apps.referrals.seed import seed

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_seeded_history_follows_the_machine_and_exports(tmp_path):
    result = seed("pw-not-used-2026", today=dt.date(2026, 11, 30))
    assert result["referrals"] > 10 and result["services"] >= 40
    assert seed("pw-not-used-2026")["referrals"] == 0  # run twice: nothing added
    m = rules.machine("referral")
    states, redirected = set(), 0
    for ref in Referral.objects.select_related("redirected_from").prefetch_related("events"):
        steps = list(ref.events.all())
        if ref.redirected_from_id:  # opened by the other service's redirect, then received
            came = ref.redirected_from
            assert came.state == "redirected" and came.service_id != ref.service_id
            assert (steps[0].transition, steps[0].to_state) == ("redirect_in", "referred")
            assert steps[0].at == came.state_since and steps[1].transition == "receive"
            redirected += 1
        else:
            assert steps[0].transition == "create"
        for step in steps[1:]:
            t = m.transition(step.transition)
            assert step.from_state in t.sources and step.to_state == t.to
        assert steps[-1].to_state == ref.state and ref.open == m.state(ref.state).open
        states.add(ref.state)
    assert {"advice_accepted", "discharged"} <= states
    assert redirected == Referral.objects.filter(state="redirected").count()
    out = events.export(tmp_path)
    table = pq.read_table(events.path(tmp_path))
    assert out == table.num_rows > result["referrals"]
    derm = table.filter(
        pq.read_table(events.path(tmp_path))["specialty"].to_pylist()
        and [s == "dermatology" for s in table["specialty"].to_pylist()]
    )
    assert set(derm["treatment_function"].to_pylist()) == {"330"}
    gave = [
        d
        for t, d in zip(
            table["transition"].to_pylist(), table["working_days"].to_pylist(), strict=True
        )
        if t == "give_advice"
    ]
    assert gave and all(d is not None and d >= 0 for d in gave)
    opted = Referral.objects.first().patient
    opted.opted_out = True
    opted.save()
    events.export(tmp_path)
    assert opted.pseudonym not in pq.read_table(events.path(tmp_path))["patient_id"].to_pylist()


def test_app_events_for_the_referral_indicators(tmp_path):
    import datetime as dt

    from referrals_world import world

    from wraparound.analytics.indicators.definition import APP_EVENT_KINDS, load
    from wraparound.apps.referrals import machine

    w = world()
    at = dt.datetime(2026, 12, 24, 10, tzinfo=dt.UTC)  # due 30 December (2 working days)
    ref = machine.create(
        patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="x", at=at
    )
    machine.apply(ref, "request_advice", w["gp"], at=at)
    machine.apply(ref, "give_advice", w["dermatologist"], message="m", at=at + dt.timedelta(days=6))
    machine.apply(ref, "accept_advice", w["gp"], at=at + dt.timedelta(days=7))
    late = machine.create(
        patient=w["patient"], service=w["derm"], referrer=w["gp"], reason="y", at=at
    )
    machine.apply(late, "request_advice", w["gp"], at=at)
    machine.apply(
        late, "give_advice", w["dermatologist"], message="m", at=at + dt.timedelta(days=7)
    )
    events.export(tmp_path)
    table = pq.read_table(events.app_events_path(tmp_path)).to_pylist()
    mine = {(r["kind"], r["date"]) for r in table if r["patient_id"] == w["patient"].pseudonym}
    day = dt.date(2026, 12, 24)
    assert mine == {
        ("advice_requested", day),
        ("advice_answered_in_time", day),  # 30 December: the 2nd working day
        ("advice_avoided_referral", day),
    }
    assert {r["kind"] for r in table} <= set(APP_EVENT_KINDS)
    ids = {i.id for i in load()}
    assert {"advice_answered_in_time", "advice_avoided_referral", "triage_in_time"} <= ids
