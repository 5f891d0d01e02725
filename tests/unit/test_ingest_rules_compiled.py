"""The row rules compiled into one expression (``ingest_rules.VALID``) say exactly what the
rule-by-rule walk says, for every table: the same rows pass, and a row that fails gets the
same first error from ``check_row`` as the walk gives. Values are drawn to sit on each rule's
edge (empty strings, allowed and unknown codes, dates a day either side of the latest allowed,
instants a microsecond either side of now) and off it (a naive datetime, a date beside an
instant, a list where a code belongs), since a compiled rule that misses a row would load it
without a word."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wraparound.sources import ingest_rules as rules
from wraparound.sources.ingest_values import Clock, Reject

CLOCK = Clock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
NOW, LATEST = CLOCK.now, CLOCK.latest_date
EDGES = [
    None,
    "",
    "x",
    "gp_appointment",
    "booked",
    5,
    True,
    ["not", "hashable"],
    LATEST,
    LATEST + timedelta(days=1),
    date(1990, 1, 1),
    NOW,
    NOW + timedelta(microseconds=1),
    NOW - timedelta(days=400),
    datetime(2020, 1, 1),  # naive: compared with an aware instant, Python refuses
]


def values_for(table: str, column: str) -> st.SearchStrategy:
    allowed = [a for i, c, a in rules._PLAN[table][1] if c == column]
    pool = list(EDGES) + (sorted(allowed[0], key=str)[:4] if allowed else [])
    return st.sampled_from(pool)


def rows(table: str) -> st.SearchStrategy:
    return st.tuples(*(values_for(table, c) for c in rules.COLUMNS[table])).map(list)


def outcome(fn, *args):
    try:
        fn(*args)
    except Reject as problem:
        return ("reject", problem.code, problem.reason)
    except TypeError:
        return ("type error",)
    return ("ok",)


@pytest.mark.parametrize("table", sorted(rules._PLAN))
def test_the_compiled_rules_agree_with_the_walk(table):
    @settings(max_examples=300, deadline=None)
    @given(rows(table))
    def check(row):
        walked = outcome(rules._first_broken, table, row, CLOCK)
        try:
            fast = bool(rules.VALID[table](row, NOW, LATEST))
        except TypeError:
            fast = False
        assert fast == (walked == ("ok",))
        assert outcome(rules.check_row, table, row, CLOCK) == walked

    check()


def test_a_valid_appointment_passes_and_each_broken_rule_is_caught():
    """The compiled encounters rule by hand: one valid row, then one fault at a time."""
    cols = rules.INDEX["encounters"]
    row = [None] * len(rules.COLUMNS["encounters"])
    for name, value in {
        "id": "a1",
        "patient_id": "Patient/p1",
        "kind": "gp_appointment",
        "start": NOW - timedelta(days=1),
        "end": NOW - timedelta(days=1) + timedelta(minutes=10),
        "booked_at": NOW - timedelta(days=3),
        "status": "attended",
        "urgent_request": True,
    }.items():
        row[cols[name]] = value
    assert rules.VALID["encounters"](row, NOW, LATEST)
    faults = {
        "patient_id": "",
        "status": "lost",
        "booked_at": NOW + timedelta(microseconds=1),
        "end": NOW - timedelta(days=2),
        "start": NOW + timedelta(hours=1),
        "kind": "outpatient",  # urgent_request is for GP appointments only
    }
    for name, value in faults.items():
        broken = list(row)
        broken[cols[name]] = value
        if name == "start":
            broken[cols["end"]] = None
        assert not rules.VALID["encounters"](broken, NOW, LATEST), name
        with pytest.raises(Reject):
            rules.check_row("encounters", broken, CLOCK)
