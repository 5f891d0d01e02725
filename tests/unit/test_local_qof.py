"""Local QOF: the formulas and the engine against answers worked by hand.

The formulas (``analytics/local_qof/formulas.py``) on their edges: a zero denominator,
everyone excepted, achievement below the lower threshold, between, at and above the upper.
Then the engine on a hand-built warehouse, on DuckDB and on Spark (the ``engine`` fixture).

The warehouse (scheme year 2024/25, data to 31 December 2024, so April to December):

- P1: a, b, c, d on the diabetes register since 2020, e diagnosed 2024-08-15, f not on it.
  a: HbA1c 50 on 2024-05-10 (met from May). b: HbA1c 70 on 2024-06-01 (not met).
  c: "procedure refused" (pca_declined) on 2024-07-01, no HbA1c (excepted from July).
  d: HbA1c 40 on 2024-05-01 and refused on 2024-06-01 (met: achieved counts, never excepted).
  e: no HbA1c; diagnosed within 3 months in August to October (excepted), not after.
- P2: g on the register, refused on 2024-05-01: everyone excepted from May.
- P3: named, with no patients: a zero denominator.

December, P1: denominator 5 (a-e), numerator 2 (a, d), exceptions 1 (c), achievement
2 / (5 - 1) = 50%. Line DM (40-90%, 10 points, 100 pounds a point): (50 - 40) / (90 - 40) x 10
= 2 points. List size 6, average list size 4: CPI 1.5. Prevalence 5/6 = 83.33% against a
reference of 50%: APF 1.6667. Payment 2 x 100 x 1.5 x 1.6667 = 500. To reach 90%: ceil(0.9 x
4) - 2 = 2 more patients; missing: b and e. Line HI (no adjustments, 10-35%, 5 points, no
prevalence factor): 2 / 5 = 40% is above the upper threshold, 5 points, 5 x 100 x 1.5 = 750.

P1 month by month (April..December): 0/4, 2/4, 2/4, 2/3, 2/3, 2/3, 2/3, 2/4, 2/4, so 0, 50,
50, 66.67 x 4, 50, 50. Least-squares slope 233.33 / 60 = 3.8889 a month; three months to
March: 50 + 3 x 3.8889 = 61.667%, 4.3333 points, 4.3333 x 100 x 1.5 x 1.6667 = 1083.33.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from builders import on_register, person, write

from wraparound import clinical
from wraparound.analytics.indicators import compile as compiler
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.local_qof import achievement, formulas, scheme

HBA1C = clinical.observation_codes()["hba1c"].code
REFUSED = clinical.codelist("pca_declined")[1]

SCHEME = """
id = "test_scheme"
version = 1
title = "Test scheme"
year = 2024
author = "tests"
review_date = 2025-03-31
description = "hand-worked"
pounds_per_point = 100

[adjustments]
list_size = "cpi"
average_list_size = 4

[[indicators]]
code = "DM"
indicator = "diabetes_hba1c_58"
lower = 40
upper = 90
points = 10
prevalence_reference_pct = 50
exceptions = [
  { codelist = "pca_declined", within_months = 12 },
  { diagnosed_within_months = 3 },
]
action = "HbA1c and treatment review"

[[indicators]]
code = "HI"
indicator = "diabetes_hba1c_58"
lower = 10
upper = 35
points = 5
action = "HbA1c and treatment review"
"""


# Formulas ----------------------------------------------------------------------------------


def test_achievement_edges():
    assert formulas.achievement(2, 5, 1) == 50.0
    assert formulas.achievement(0, 0, 0) is None  # zero denominator
    assert formulas.achievement(0, 3, 3) is None  # everyone excepted
    assert formulas.achievement(3, 3, 0) == 100.0


@pytest.mark.parametrize(
    ("achieved", "expected"),
    [
        (None, 0.0),  # nothing to achieve
        (39.9, 0.0),  # below the lower threshold
        (40.0, 0.0),  # at the lower threshold: the line starts at 0
        (65.0, 5.0),  # halfway
        (90.0, 10.0),  # at the upper threshold
        (100.0, 10.0),  # above it: still the maximum
    ],
)
def test_points_linear_between_thresholds(achieved, expected):
    assert formulas.points(achieved, 40, 90, 10) == pytest.approx(expected)


def test_adjustments_and_payment():
    assert formulas.cpi(15_000, 10_000) == 1.5
    assert formulas.cpi(15_000, None) == 1.0
    assert formulas.apf(71, 1000, 7.1) == pytest.approx(1.0)
    assert formulas.apf(142, 1000, 7.1) == pytest.approx(2.0)
    assert formulas.apf(5, 0, 7.1) == 0.0
    assert formulas.apf(5, 10, None) == 1.0
    # The Arden's worked example: 29 points x £201.16 x CPI 1.76 x APDF 1.50 = about £15,400.
    assert formulas.payment(29, 201.16, 1.76, 1.50) == pytest.approx(15_400, rel=0.001)


def test_projection_hand_worked():
    history = list(
        zip(range(9), [0, 50, 50, 200 / 3, 200 / 3, 200 / 3, 200 / 3, 50, 50], strict=True)
    )
    assert achievement.projected(history, 8, 11) == pytest.approx(50 + 3 * 233.333333 / 60)
    assert achievement.projected([(5, 80.0)], 5, 11) == 80.0  # one month: no trend
    assert achievement.projected([(0, 50.0), (1, 100.0)], 1, 11) == 100.0  # capped


# Scheme format -------------------------------------------------------------------------------


def test_demo_scheme_loads():
    demo = scheme.current("local_qof")
    assert [li.indicator.id for li in demo.lines] == [
        "high_needs_care_plan",
        "frailty_assessment",
        "diabetes_hba1c_58",
        "ld_annual_health_check",
    ]
    assert demo.list_size == "cpi" and demo.max_points == 110


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('indicator = "diabetes_hba1c_58"\nlower', 'indicator = "nope"\nlower'),
            "not in the indicator library",
        ),
        (
            ('indicator = "diabetes_hba1c_58"\nlower', 'indicator = "ae_attendances_rate"\nlower'),
            "not a proportion of patients",
        ),
        (("upper = 90", "upper = 30"), "lower < upper"),
        (("points = 10", "points = 0"), "points must be above 0"),
        (('"pca_declined"', '"no_such_list"'), "unknown code list"),
        (("average_list_size = 4", ""), "average_list_size must be a number"),
        (("year = 2024", "year = 2024\ncolour = 1"), "unknown key 'colour'"),
        (('action = "HbA1c and treatment review"\n\n', "\n\n"), "action must say"),
    ],
)
def test_scheme_errors_name_the_key(change, message):
    text = SCHEME.replace(*change, 1)
    with pytest.raises(scheme.SchemeError, match=message):
        scheme.parse(text, "test.toml")


def test_diagnosed_exception_needs_a_register():
    text = SCHEME.replace(
        'indicator = "diabetes_hba1c_58"\nlower = 40',
        'indicator = "high_needs_care_plan"\nlower = 40',
    )
    with pytest.raises(scheme.SchemeError, match="needs a register denominator"):
        scheme.parse(text, "test.toml")


# The engine ----------------------------------------------------------------------------------


def _obs(pid, code, day, value=None):
    return {"patient_id": pid, "system": "snomed", "code": code, "date": day, "value": value}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("local_qof")
    d = dt.date
    parts = [person(p, 60, practice="P1") for p in "abcdef"] + [person("g", 60, practice="P2")]
    conditions = [on_register(p, "diabetes") for p in "abcdg"]
    conditions.append(on_register("e", "diabetes", d(2024, 8, 15)))
    observations = [
        _obs("a", HBA1C, d(2024, 5, 10), 50),
        _obs("b", HBA1C, d(2024, 6, 1), 70),
        _obs("c", REFUSED, d(2024, 7, 1)),
        _obs("d", HBA1C, d(2024, 5, 1), 40),
        _obs("d", REFUSED, d(2024, 6, 1)),
        _obs("g", REFUSED, d(2024, 5, 1)),
    ]
    write(root, *parts, {"conditions": conditions, "observations": observations})
    return root


@pytest.fixture(scope="module")
def results(world, engine):
    # Spark runs the DM line only (it carries every edge; HI is the same rows paid again),
    # which halves its queries on a loaded machine.
    text = SCHEME if engine.name == "duckdb" else SCHEME.split('[[indicators]]\ncode = "HI"')[0]
    plan = scheme.parse(text, "test.toml")
    with engine.connect(world) as opened:
        return achievement.compute(
            opened,
            plan,
            compiler.Inputs(),
            dt.date(2024, 1, 1),
            dt.date(2024, 12, 31),
            practices=["P1", "P2", "P3"],
        )


def _row(frame, practice, code, period=None):
    if period is not None:
        frame = frame.filter(pl.col("period") == period)
    rows = frame.filter((pl.col("practice_id") == practice) & (pl.col("code") == code))
    assert rows.height == 1
    return rows.row(0, named=True)


DEC = months.month_index(dt.date(2024, 12, 1))


def test_december_hand_worked(results):
    r = _row(results.monthly, "P1", "DM", DEC)
    assert (r["numerator"], r["denominator"], r["exceptions"]) == (2, 5, 1)
    assert r["achievement"] == pytest.approx(50.0)
    assert r["points"] == pytest.approx(2.0)
    assert r["list_size"] == 6 and r["cpi"] == pytest.approx(1.5)
    assert r["apf"] == pytest.approx(100 * 5 / 6 / 50)
    assert r["payment"] == pytest.approx(500.0)
    assert r["patients_to_upper"] == 2
    if results.monthly.filter(pl.col("code") == "HI").height == 0:
        return  # Spark: the DM line only
    above = _row(results.monthly, "P1", "HI", DEC)
    assert above["achievement"] == pytest.approx(40.0)
    assert above["points"] == 5.0 and above["payment"] == pytest.approx(750.0)


def test_months_of_the_year(results):
    p1 = results.monthly.filter((pl.col("practice_id") == "P1") & (pl.col("code") == "DM"))
    p1 = p1.sort("period")
    assert p1["period"].to_list() == list(range(DEC - 8, DEC + 1))
    assert p1["numerator"].to_list() == [0, 2, 2, 2, 2, 2, 2, 2, 2]
    assert p1["denominator"].to_list() == [4, 4, 4, 4, 5, 5, 5, 5, 5]
    assert p1["exceptions"].to_list() == [0, 0, 0, 1, 2, 2, 2, 1, 1]


def test_everyone_excepted_and_zero_denominator(results):
    april = DEC - 8
    assert _row(results.monthly, "P2", "DM", april)["achievement"] == 0.0
    excepted = _row(results.monthly, "P2", "DM", DEC)
    assert (excepted["denominator"], excepted["exceptions"]) == (1, 1)
    assert excepted["achievement"] is None and excepted["points"] == 0.0
    assert excepted["payment"] == 0.0
    empty = _row(results.monthly, "P3", "DM", DEC)
    assert empty["denominator"] == 0 and empty["list_size"] == 0
    assert empty["achievement"] is None and empty["payment"] == 0.0


def test_projection_and_missing(results):
    y = _row(results.year, "P1", "DM")
    assert y["period"] == DEC and y["final"] is False
    assert y["projected_achievement"] == pytest.approx(50 + 3 * 233.333333 / 60)
    assert y["projected_points"] == pytest.approx((y["projected_achievement"] - 40) / 50 * 10)
    assert y["projected_payment"] == pytest.approx(y["projected_points"] * 100 * 1.5 * 5 / 3)
    missing = results.missing.filter(pl.col("code") == "DM")
    assert missing.select("practice_id", "patient_id").rows() == [("P1", "b"), ("P1", "e")]
    assert set(missing["action"]) == {"HbA1c and treatment review"}


def test_list_sizes_count_each_patient_once_at_each_month_end(tmp_path):
    """List sizes (the CPI's input) by month end, hand-worked, against ``registered_at``'s
    rule: b is registered at P1 and, from 15 June, at P2 too (overlapping: counted once, at
    P2, the higher code); c moves from P1 to P2 on 10 July; d dies on 20 August; e joins P2
    on 1 September. Only b and c have two registrations, so both paths of ``list_sizes``
    (one registration, several) are exercised."""
    import pyarrow as pa

    from wraparound.analytics.population import registered_at
    from wraparound.warehouse.engine import connect

    d = dt.date
    people = [person(p, 50) for p in "abcd"] + [person("e", 50, practice="P2")]
    people[1]["registrations"].append(
        {"patient_id": "b", "practice_id": "P2", "start_date": d(2024, 6, 15)}
    )
    people[2]["registrations"] = [
        {"patient_id": "c", "practice_id": "P1", "start_date": d(2000, 1, 1),
         "end_date": d(2024, 7, 10)},
        {"patient_id": "c", "practice_id": "P2", "start_date": d(2024, 7, 10)},
    ]  # fmt: skip
    people[3]["patients"][0]["death_date"] = d(2024, 8, 20)
    people[4]["registrations"][0]["start_date"] = d(2024, 9, 1)
    write(tmp_path, *people)
    ends = [months.month_end(months.month_index(d(2024, m, 1))) for m in range(4, 13)]
    table = pa.table({"period": pa.array(range(9), pa.int32()), "last_day": ends})
    with connect(tmp_path, "duckdb") as engine:
        periods = engine.memtable(table)
        sizes = pl.from_arrow(engine.to_arrow(achievement.list_sizes(engine, periods)))
        reg = registered_at(engine, periods.select("period", on=periods.last_day))
        rule = pl.from_arrow(
            engine.to_arrow(reg.group_by(["period", "practice_id"]).agg(list_size=reg.count()))
        )

    def by_month(frame, practice):
        got = dict(
            frame.filter(pl.col("practice_id") == practice).select("period", "list_size").rows()
        )
        return [got.get(i, 0) for i in range(9)]

    #                          Apr May Jun Jul Aug Sep Oct Nov Dec
    assert by_month(sizes, "P1") == [4, 4, 3, 2, 1, 1, 1, 1, 1]
    assert by_month(sizes, "P2") == [0, 0, 1, 2, 2, 3, 3, 3, 3]
    assert sizes.sort(["period", "practice_id"]).equals(
        rule.sort(["period", "practice_id"]).cast({"list_size": sizes["list_size"].dtype})
    )
