"""Outcomes against a baseline: emergency admissions, A&E attendances and excess bed days per
1,000 for the locality and each neighbourhood, month by month, against a chosen baseline year
and the commissioner's target of 15% below it.

Rates here are crude (events per 1,000 registered person-years), because the target is set on
what the hospital actually sees; the age-sex standardised rate is the indicator
``emergency_admissions_dsr``. Each month is shown as it is and as the 12 months to that month
(the "rolling" rate), which is what the target is judged on: a single month is too seasonal.
"""

from __future__ import annotations

import polars as pl

from wraparound.analytics.indicators import periods as months

MEASURES = {
    "emergency_admissions": "emergency_admissions_dsr",
    "ae_attendances": "ae_attendances_rate",
    "excess_bed_days": "excess_bed_days_rate",
}
"""Outcome measure -> the indicator whose cells count it."""

TARGET_REDUCTION = 0.15
PER = 1000.0


def baseline_months(year: int) -> range:
    """The NHS financial year starting in April of ``year`` (2024 -> April 2024-March 2025)."""
    first = year * 12 + 3  # April
    return range(first, first + 12)


def default_baseline_year(periods: list[int]) -> int | None:
    """The first financial year whose 12 months are all reported."""
    have = set(periods)
    for period in sorted(have):
        if period % 12 == 3 and all(p in have for p in range(period, period + 12)):
            return period // 12
    return None


def outcomes(
    cells: dict[str, pl.DataFrame],
    neighbourhood_of: pl.DataFrame,
    locality_id: str,
    baseline_year: int | None,
) -> pl.DataFrame:
    """Monthly and rolling 12-month rates with baseline, target and share of the way there.

    ``cells`` maps indicator id to its cells (period, practice_id, numerator, denominator);
    ``neighbourhood_of`` has practice_id, neighbourhood_id."""
    frames = []
    for measure, indicator_id in MEASURES.items():
        if indicator_id not in cells:
            continue
        # Sorted first: floating-point sums depend on the order they add in, and a night that
        # reuses some months hands the cells over in a different order from a full run.
        c = (
            cells[indicator_id]
            .sort(["period", "practice_id"])
            .join(neighbourhood_of, on="practice_id", how="left", maintain_order="left")
        )
        locality = c.group_by("period", maintain_order=True).agg(
            events=pl.col("numerator").sum(), person_years=pl.col("denominator").sum()
        )
        locality = locality.with_columns(level=pl.lit("locality"), org_id=pl.lit(locality_id))
        hood = c.group_by(["period", "neighbourhood_id"], maintain_order=True).agg(
            events=pl.col("numerator").sum(), person_years=pl.col("denominator").sum()
        )
        hood = hood.rename({"neighbourhood_id": "org_id"}).with_columns(
            level=pl.lit("neighbourhood")
        )
        both = pl.concat([locality.select(hood.columns), hood], how="vertical_relaxed")
        frames.append(both.with_columns(measure=pl.lit(measure), indicator_id=pl.lit(indicator_id)))
    if not frames:
        return pl.DataFrame()
    rows = pl.concat(frames).sort(["measure", "level", "org_id", "period"])
    periods = sorted(rows["period"].unique().to_list())
    year = baseline_year if baseline_year is not None else default_baseline_year(periods)
    if year is None:
        raise ValueError("no complete financial year (April to March) to use as the baseline")
    base = list(baseline_months(year))
    missing = [p for p in base if p not in set(periods)]
    if missing:
        raise ValueError(
            f"baseline year {year}/{(year + 1) % 100:02d} is not fully in the "
            f"data (missing {months.label(missing[0])})"
        )
    keys = ["measure", "level", "org_id"]
    baseline = (
        rows.filter(pl.col("period").is_in(base))
        .group_by(keys, maintain_order=True)
        .agg(baseline_rate=pl.col("events").sum() / pl.col("person_years").sum() * PER)
    )
    rolling = rows.with_columns(
        rolling_events=pl.col("events").rolling_sum(12).over(keys),
        rolling_years=pl.col("person_years").rolling_sum(12).over(keys),
        rolling_periods=pl.col("period").diff(11).over(keys),
    )
    complete = pl.col("rolling_periods") == 11  # 12 consecutive months
    out = (
        rolling.join(baseline, on=keys, how="left")
        .with_columns(
            rate_per_1000=pl.col("events") / pl.col("person_years") * PER,
            rolling_12m_rate=pl.when(complete).then(
                pl.col("rolling_events") / pl.col("rolling_years") * PER
            ),
            target_rate=pl.col("baseline_rate") * (1 - TARGET_REDUCTION),
        )
        .with_columns(
            change_vs_baseline_pct=(pl.col("rolling_12m_rate") / pl.col("baseline_rate") - 1) * 100,
            share_of_way=(pl.col("baseline_rate") - pl.col("rolling_12m_rate"))
            / (pl.col("baseline_rate") - pl.col("target_rate")),
            baseline_year=pl.lit(f"{year}/{(year + 1) % 100:02d}"),
            period_end=months.month_end_expr(pl.col("period")),
            period=months.label_expr(pl.col("period")),
            publishable=pl.lit(True),
        )
    )
    return out.select(
        "measure",
        "indicator_id",
        "level",
        "org_id",
        "period",
        "period_end",
        "events",
        "person_years",
        "rate_per_1000",
        "rolling_12m_rate",
        "baseline_year",
        "baseline_rate",
        "target_rate",
        "change_vs_baseline_pct",
        "share_of_way",
        "publishable",
    )
