"""The commissioner's outlier report: practices outside the 99.8% funnel limits, high or low,
and for how many consecutive months they have been there. A practice is never an outlier for
its rank alone: only the funnel limits (which widen for small practices) decide."""

from __future__ import annotations

import polars as pl

COLUMNS = [
    "indicator_id",
    "title",
    "direction",
    "period",
    "org_id",
    "neighbourhood_id",
    "subgroup",
    "numerator",
    "denominator",
    "value",
    "lower95",
    "upper95",
    "peer_value",
    "funnel_lower998",
    "funnel_upper998",
    "funnel_status",
    "assessment",
    "consecutive_periods",
    "latest",
]


def outliers(values: pl.DataFrame, titles: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """Every practice-month outside the 99.8% limits, with the length of the run of months
    (ending at that month) in which it was outside on the same side."""
    practice = values.filter(pl.col("level") == "practice").sort(
        ["indicator_id", "subgroup", "org_id", "period_end"]
    )
    keys = ["indicator_id", "subgroup", "org_id"]
    month = pl.col("period_end").dt.year() * 12 + pl.col("period_end").dt.month()
    practice = practice.with_columns(month=month)
    new_run = (
        (pl.col("funnel_status") != pl.col("funnel_status").shift(1).over(keys))
        | ((pl.col("month") - pl.col("month").shift(1).over(keys)) != 1)
        | pl.col("funnel_status").shift(1).over(keys).is_null()
    )
    practice = practice.with_columns(
        run=new_run.fill_null(True).cast(pl.Int32).cum_sum().over(keys)
    )
    practice = practice.with_columns(
        consecutive_periods=pl.int_range(1, pl.len() + 1).over([*keys, "run"]),
        latest=pl.col("period_end") == pl.col("period_end").max().over("indicator_id"),
    )
    flagged = practice.filter(pl.col("funnel_status").is_in(["high", "low"]))
    return (
        flagged.with_columns(
            title=pl.col("indicator_id").replace_strict(
                {k: v[0] for k, v in titles.items()}, default=None
            ),
            direction=pl.col("indicator_id").replace_strict(
                {k: v[1] for k, v in titles.items()}, default=None
            ),
            neighbourhood_id=pl.col("parent_id"),
        )
        .select(COLUMNS)
        .sort(["indicator_id", "period", "org_id"])
    )
