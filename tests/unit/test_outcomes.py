"""Outcomes against baseline: the arithmetic of rates, rolling 12 months, target and share of
the way there."""

from __future__ import annotations

import random

import polars as pl
import pytest

from wraparound.analytics import outcomes


def _cells(rates: list[float]) -> pl.DataFrame:
    """36 months from April 2023, two practices each with 1,000 person-years a month split
    evenly, and the given monthly events per 1,000 person-years."""
    first = 2023 * 12 + 3
    rows = []
    for i, rate in enumerate(rates):
        for practice in ("P1", "P2"):
            rows.append(
                {
                    "period": first + i,
                    "practice_id": practice,
                    "numerator": rate / 2,
                    "denominator": 500.0,
                }
            )
    return pl.DataFrame(rows)


def test_baseline_target_and_share_of_the_way():
    # 100 per 1,000 in the baseline year, 92.5 in the second, 85 in the third.
    cells = {"emergency_admissions_dsr": _cells([100] * 12 + [92.5] * 12 + [85] * 12)}
    hoods = pl.DataFrame({"practice_id": ["P1", "P2"], "neighbourhood_id": ["N1", "N2"]})
    out = outcomes.outcomes(cells, hoods, "W", baseline_year=None)
    locality = out.filter(pl.col("level") == "locality").sort("period")
    assert locality["baseline_year"][0] == "2023/24"
    assert locality["baseline_rate"][0] == pytest.approx(100)
    assert locality["target_rate"][0] == pytest.approx(85)
    assert locality["rolling_12m_rate"][10] is None  # 11 months: not yet a year
    end_of_year_2 = locality.filter(pl.col("period") == "2025-03").row(0, named=True)
    assert end_of_year_2["rolling_12m_rate"] == pytest.approx(92.5)
    assert end_of_year_2["share_of_way"] == pytest.approx(0.5)
    assert end_of_year_2["change_vs_baseline_pct"] == pytest.approx(-7.5)
    last = locality.row(-1, named=True)
    assert last["share_of_way"] == pytest.approx(1.0)
    assert set(out.filter(pl.col("level") == "neighbourhood")["org_id"]) == {"N1", "N2"}


def test_chosen_baseline_and_missing_year():
    cells = {"ae_attendances_rate": _cells([100] * 12 + [80] * 24)}
    hoods = pl.DataFrame({"practice_id": ["P1", "P2"], "neighbourhood_id": ["N", "N"]})
    out = outcomes.outcomes(cells, hoods, "W", baseline_year=2024)
    assert out["baseline_rate"][0] == pytest.approx(80)
    with pytest.raises(ValueError, match="baseline year 2026/27 is not fully in the data"):
        outcomes.outcomes(cells, hoods, "W", baseline_year=2026)


def test_financial_year_months():
    months = outcomes.baseline_months(2024)
    assert months[0] == 2024 * 12 + 3 and len(months) == 12
    assert outcomes.default_baseline_year(list(range(2023 * 12 + 5, 2026 * 12 + 3))) == 2024


def test_the_same_cells_in_any_order_give_the_same_bits():
    # Floating-point sums depend on the order they add in; the person-years must not.
    rng = random.Random(7)
    practices = [f"P{i}" for i in range(300)]
    rows = [
        {"period": 2023 * 12 + 3 + m, "practice_id": p, "numerator": 1.0, "denominator": d}
        for m in range(12)
        for p in practices
        for d in [rng.uniform(0, 1000)]
    ]
    hoods = pl.DataFrame({"practice_id": practices, "neighbourhood_id": ["N"] * len(practices)})
    shuffled = rows[:]
    rng.shuffle(shuffled)
    a = outcomes.outcomes({"emergency_admissions_dsr": pl.DataFrame(rows)}, hoods, "W", None)
    b = outcomes.outcomes({"emergency_admissions_dsr": pl.DataFrame(shuffled)}, hoods, "W", None)
    assert a.equals(b)
