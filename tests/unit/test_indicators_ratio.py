"""The ``ratio`` indicator type (events over events: outpatient follow-ups per first
attendance, by specialty), on a hand-built warehouse, on every engine (the ``engine``
fixture), against answers worked by hand.

Locality W, neighbourhood N, practices P1 and P2. Attended outpatient appointments in March
2025 (f = first attendance, u = follow-up):

- P1 (r1): ophthalmology (130) 2 f, 5 u; also a follow-up not attended (dna), an attendance
  not recorded as either (first_attendance empty): in neither count. Rheumatology (410) 1 f.
- P1 (r3, opted out of secondary uses): an ophthalmology follow-up: never counted.
- P2 (r2): ophthalmology 3 f, 3 u; rheumatology 2 u and no first (the zero denominator: no
  value); one first with no specialty recorded (the subgroup ``unknown``).

So ophthalmology: P1 5/2 = 2.5, P2 3/3 = 1.0, the neighbourhood and locality 8/5 = 1.6;
rheumatology: P1 0/1 = 0, P2 2/0 (none), locality 2/1 = 2.0.

The interval is the conditional one for a ratio of two Poisson counts: given x + y events,
x is binomial with p = R / (1 + R); the Wilson limits of x / (x + y), mapped by p / (1 - p).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from builders import write_tables
from scipy.stats import norm

from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.definition import DefinitionError, parse
from wraparound.analytics.indicators.run import run

INDICATOR = "outpatient_follow_up_ratio"
UTC = dt.UTC


def _outpatient(pid, day, specialty, first, status="attended"):
    start = dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)
    return {
        "patient_id": pid,
        "kind": "outpatient",
        "start": start,
        "end": start + dt.timedelta(minutes=20),
        "status": status,
        "specialty": specialty,
        "first_attendance": first,
    }


def _community(pid, day):
    start = dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)
    return {
        "patient_id": pid,
        "kind": "community",
        "start": start,
        "end": start,
        "status": "attended",
    }


def _encounters():
    rows = []
    for pid, specialty, firsts, follow_ups in [
        ("r1", "130", 2, 5),
        ("r1", "410", 1, 0),
        ("r2", "130", 3, 3),
        ("r2", "410", 0, 2),
    ]:
        rows += [_outpatient(pid, f"2025-03-{1 + i:02d}", specialty, True) for i in range(firsts)]
        rows += [
            _outpatient(pid, f"2025-03-{10 + i:02d}", specialty, False) for i in range(follow_ups)
        ]
    rows += [
        _outpatient("r1", "2025-03-20", "130", False, status="dna"),
        _outpatient("r1", "2025-03-21", "130", None),
        _outpatient("r3", "2025-03-21", "130", False),
        _outpatient("r2", "2025-03-22", None, True),
        # The data run from April 2024 to March 2025.
        _community("r1", "2024-04-01"),
        _community("r1", "2025-03-31"),
    ]
    return rows


@pytest.fixture(scope="module")
def ratio_run(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"ratio_{engine.name}") / "warehouse"
    people = [("r1", "P1", False), ("r2", "P2", False), ("r3", "P1", True)]
    write_tables(
        root,
        {
            "organisations": [
                {"org_id": "W", "kind": "locality"},
                {"org_id": "N", "kind": "neighbourhood", "parent_id": "W"},
                {"org_id": "P1", "kind": "practice", "parent_id": "N"},
                {"org_id": "P2", "kind": "practice", "parent_id": "N"},
            ],
            "areas": [{"lsoa": "A", "imd_decile": 3}],
            "patients": [
                {
                    "patient_id": p,
                    "birth_date": dt.date(1960, 1, 1),
                    "sex": "female",
                    "lsoa": "A",
                    "opted_out": o,
                }
                for p, _, o in people
            ],
            "registrations": [
                {"patient_id": p, "practice_id": practice, "start_date": dt.date(2000, 1, 1)}
                for p, practice, _ in people
            ],
            "encounters": _encounters(),
        },
    )
    library = tuple(i for i in definition.load() if i.id == INDICATOR)
    with engine.selected():
        manifest = run(root, out=root / "out", library=library)
    return manifest, root / "out" / manifest["run_id"]


def _row(run_dir, org, subgroup, level="practice", period="2025-03"):
    values = pl.read_parquet(run_dir / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == INDICATOR)
        & (pl.col("period") == period)
        & (pl.col("org_id") == org)
        & (pl.col("level") == level)
        & (pl.col("subgroup") == subgroup)
    )
    assert values.height == 1, (org, subgroup, level, values)
    return values.row(0, named=True)


def _wilson_odds(x, y, z):
    """The hand formula: Wilson limits of x / n (n = x + y), each mapped by p / (1 - p)."""
    n = x + y
    centre = x + z * z / 2
    half = z * (x * y / n + z * z / 4) ** 0.5
    lower, upper = (centre - half) / (n + z * z), (centre + half) / (n + z * z)
    odds = lambda p: p / (1 - p)  # noqa: E731
    return odds(lower), odds(upper)


def test_follow_ups_per_first_attendance_by_specialty(ratio_run):
    manifest, d = ratio_run
    status = {x["id"]: x["status"] for x in manifest["definitions"]}
    assert status[INDICATOR] == "computed"
    eye = _row(d, "P1", "130")
    # The dna, the attendance recorded as neither, and the opted-out patient are not counted.
    assert (eye["numerator"], eye["denominator"], eye["value"]) == (5, 2, 2.5)
    assert _row(d, "P2", "130")["value"] == 1.0
    for level, org in (("neighbourhood", "N"), ("locality", "W")):
        row = _row(d, org, "130", level=level)
        assert (row["numerator"], row["denominator"], row["value"]) == (8, 5, 1.6)
    assert _row(d, "W", "410", level="locality")["value"] == 2.0
    unknown = _row(d, "P2", "unknown")
    assert (unknown["numerator"], unknown["denominator"], unknown["value"]) == (0, 1, 0.0)
    subgroups = set(pl.read_parquet(d / "indicator_values.parquet")["subgroup"])
    assert subgroups == {"130", "410", "unknown"}  # by specialty only: no "all" row


def test_the_interval_is_wilson_on_the_share_of_follow_ups(ratio_run):
    _, d = ratio_run
    z = norm.ppf(0.975)
    eye = _row(d, "P1", "130")  # 5 follow-ups, 2 firsts
    lower, upper = _wilson_odds(5, 2, z)
    assert eye["lower95"] == pytest.approx(lower, rel=1e-9)
    assert eye["upper95"] == pytest.approx(upper, rel=1e-9)
    # Worked out on paper: Wilson limits of 5/7 are 0.35893 and 0.91778.
    assert eye["lower95"] == pytest.approx(0.35893 / 0.64107, rel=1e-4)
    assert eye["upper95"] == pytest.approx(0.91778 / 0.08222, rel=1e-3)
    assert eye["lower998"] < eye["lower95"] < 2.5 < eye["upper95"] < eye["upper998"]
    # No follow-ups after one first: 0, up to z squared (Wilson's upper limit z^2 / (1 + z^2)).
    none = _row(d, "P1", "410")
    assert (none["value"], none["lower95"]) == (0.0, 0.0)
    assert none["upper95"] == pytest.approx(z * z)


def test_a_zero_denominator_has_no_value(ratio_run):
    """Two rheumatology follow-ups at P2 and no first attendance: the counts are reported,
    the ratio, its limits, funnel status and trend are not."""
    _, d = ratio_run
    row = _row(d, "P2", "410")
    assert (row["numerator"], row["denominator"]) == (2, 0)
    for column in ("value", "lower95", "upper95", "lower998", "upper998", "funnel_status"):
        assert row[column] is None, column


def test_funnel_around_the_locality_ratio(ratio_run):
    _, d = ratio_run
    eye = _row(d, "P1", "130")
    assert eye["peer_value"] == 1.6
    # 7 events around the locality's share 8/13: wide limits, within them.
    assert eye["funnel_lower998"] < eye["funnel_lower95"] < 1.6 < eye["upper95"]
    assert eye["funnel_status"] == "within"
    assert eye["assessment"] == "similar"


RATIO = """
id = "x"
version = 1
title = "T"
description = "D"
why_it_matters = "W"
type = "ratio"
direction = "both"
multiplier = 1
tags = ["use"]
author = "A"
review_date = 2027-01-01
source = "warehouse"

[denominator]
events = { kind = "outpatient", status = ["attended"], first_attendance = true }

[numerator]
events = { kind = "outpatient", status = ["attended"], first_attendance = false }
by = "specialty"

[targets]
reduction_pct = { "130" = 12 }
source = "a plan"
"""


def test_a_ratio_definition_parses_with_its_targets():
    ratio = parse(RATIO, "data/indicators/x.toml")
    assert ratio.type == "ratio"
    assert ratio.denominator.events.first_attendance is True
    assert ratio.numerator.events.first_attendance is False
    assert ratio.targets.reduction("130") == 12.0
    assert ratio.targets.reduction("410") is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'events = { kind = "outpatient", status = ["attended"], first_attendance = true }',
            "person_time = true",
            "a ratio needs denominator.events and numerator.events",
        ),
        (
            'events = { kind = "outpatient", status = ["attended"], first_attendance = false }',
            'where = [{ status = ["attended"] }]',
            "a ratio needs denominator.events and numerator.events",
        ),
        ("first_attendance = true", 'first_attendance = "yes"', "must be true or false"),
        (
            'kind = "outpatient", status = ["attended"], first_attendance = true',
            'kind = "ae_attendance", status = ["attended"], first_attendance = true',
            "first_attendance is recorded only for kind = 'outpatient'",
        ),
        ('"130" = 12', '"999" = 12', "'999' is not a treatment function code"),
        ('"130" = 12', '"130" = 120', "must be a per cent above 0 and below 100"),
        ('source = "a plan"', 'owner = "a plan"', "unknown key 'owner' in \\[targets\\]"),
        ('by = "specialty"\n', "", "\\[targets\\] are by specialty"),
        ('by = "specialty"\n', 'by = "specialty"\nmeasure = "minutes"\n', "minutes"),
    ],
)
def test_a_bad_ratio_definition_fails_naming_the_file(old, new, message):
    assert old in RATIO
    with pytest.raises(DefinitionError, match=message) as err:
        parse(RATIO.replace(old, new, 1), "data/indicators/x.toml")
    assert str(err.value).startswith("data/indicators/x.toml: ")
