"""Demand projection (issue 16): hand-worked projections and the growth file's checks."""

from __future__ import annotations

import datetime as dt

import pytest

from wraparound.analytics import demand

GROWTH = """
id = "t"
version = "1"
name = "Test"
[[band]]
name = "young"
min_age = 0
max_age = 64
annual_growth = 0.0
[[band]]
name = "old"
min_age = 65
max_age = 200
annual_growth = 0.1
[target]
measure = "emergency_admissions"
relative_change = -0.15
"""


def test_projection_by_hand():
    growth = demand.parse_growth(GROWTH, "t")
    table = {
        "young": {
            "population": 1000,
            "person_years": 1000.0,
            "events": dict.fromkeys(demand.MEASURES, 100.0),
        },
        "old": {
            "population": 100,
            "person_years": 100.0,
            "events": dict.fromkeys(demand.MEASURES, 50.0),
        },
    }
    out = demand.projection(dt.date(2026, 3, 31), table, growth, 2)
    admissions = next(m for m in out["measures"] if m["measure"] == "emergency_admissions")
    # Rates 0.1 and 0.5 a person-year; in year 2 the old band is 100 * 1.1^2 = 121.
    assert admissions["baseline"] == pytest.approx(100 + 50)
    year2 = admissions["years"][-1]
    assert year2["year"] == 2028
    assert year2["projected"] == pytest.approx(100 + 0.5 * 121)
    assert year2["projected_with_target"] == pytest.approx(0.85 * (100 + 0.5 * 121))
    assert year2["lower"] < year2["projected"] < year2["upper"]
    gp = next(m for m in out["measures"] if m["measure"] == "gp_appointments")
    assert gp["years"][-1]["projected_with_target"] == gp["years"][-1]["projected"]


def test_packaged_growth_is_east_leicestershire_rebased_to_annual():
    growth = demand.load_growth("east_leicestershire")
    bands = {b.name: b.annual_growth for b in growth.bands}
    assert (1 + bands["85+"]) ** 13 == pytest.approx(1.666, rel=1e-3)
    assert (1 + bands["65-84"]) ** 13 == pytest.approx(1.286, rel=1e-3)


@pytest.mark.parametrize(
    "broken,message",
    [
        (GROWTH.replace("min_age = 65", "min_age = 70"), "cover every age"),
        (GROWTH.replace("annual_growth = 0.1", "annual_growth = 2"), "annual_growth"),
        (GROWTH.replace('measure = "emergency_admissions"', 'measure = "x"'), "target.measure"),
        (GROWTH.replace('id = "t"', ""), "id is required"),
    ],
)
def test_broken_growth_files_are_refused(broken, message):
    with pytest.raises(demand.GrowthError, match=message):
        demand.parse_growth(broken, "t")
