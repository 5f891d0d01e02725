"""One indicator's cells as rows at every level, and by deprivation quintile.

Levels: ``practice``, ``neighbourhood`` and ``locality`` (published, after disclosure
control) and ``clinician`` within a practice (for the practice's own scorecard; never
published, because a clinician's caseload is small enough to identify patients).
"""

from __future__ import annotations

import polars as pl

from wraparound import vocabulary
from wraparound.analytics.indicators import compute
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.indicators.definition import Indicator

PUBLISHABLE_LEVELS = vocabulary.LEVELS

OUTPUT_COLUMNS = list(vocabulary.INDICATOR_OUTPUT_COLUMNS)


def indicator_values(
    indicator: Indicator, cells: pl.DataFrame, orgs: compute.Orgs, weights: pl.DataFrame
) -> pl.DataFrame:
    cells = cells.join(orgs.frame(), on="practice_id", how="left", maintain_order="left")
    by = ["period", "subgroup"]
    locality = compute.summarise(indicator, cells, by, weights)
    practice = compute.summarise(indicator, cells, [*by, "practice_id"], weights)
    practice = compute.with_funnel(indicator, practice, locality, by)
    practice = compute.with_ranks(practice, by)
    neighbourhood = compute.summarise(indicator, cells, [*by, "neighbourhood_id"], weights)
    neighbourhood = compute.with_funnel(indicator, neighbourhood, locality, by)
    frames = [
        _shape(practice, "practice", "practice_id", "neighbourhood_id", orgs),
        _shape(neighbourhood, "neighbourhood", "neighbourhood_id", None, orgs),
        _shape(locality, "locality", None, None, orgs),
    ]
    with_clinician = cells.filter(pl.col("clinician").is_not_null())
    if with_clinician.height:
        clinician = compute.summarise(
            indicator, with_clinician, [*by, "practice_id", "clinician"], weights
        )
        clinician = compute.with_funnel(indicator, clinician, practice, [*by, "practice_id"])
        frames.append(_shape(clinician, "clinician", "clinician", "practice_id", orgs))
    rows = pl.concat([_complete(f) for f in frames], how="vertical_relaxed")
    rows = compute.with_trend(indicator, rows, ["level", "org_id", "parent_id", "subgroup"])
    return (
        rows.with_columns(
            indicator_id=pl.lit(indicator.id),
            indicator_version=pl.lit(indicator.version),
            period_end=months.month_end_expr(pl.col("period")),
            publishable=pl.col("level").is_in(list(PUBLISHABLE_LEVELS)),
        )
        .with_columns(period=months.label_expr(pl.col("period")))
        .select(OUTPUT_COLUMNS)
    )


def _shape(
    df: pl.DataFrame, level: str, org: str | None, parent: str | None, orgs: compute.Orgs
) -> pl.DataFrame:
    if level == "practice":
        df = df.join(orgs.frame(), on="practice_id", how="left")
    org_id = pl.col(org) if org else pl.lit(orgs.locality_id)
    parent_id = (
        pl.col(parent)
        if parent
        else pl.lit(orgs.locality_id if level == "neighbourhood" else None, pl.String)
    )
    return df.with_columns(
        level=pl.lit(level), org_id=org_id.cast(pl.String), parent_id=parent_id.cast(pl.String)
    )


def _complete(df: pl.DataFrame) -> pl.DataFrame:
    """Every level gets the same columns (locality has no peer, funnel or rank)."""
    defaults = {
        "peer_value": pl.Float64,
        "funnel_lower95": pl.Float64,
        "funnel_upper95": pl.Float64,
        "funnel_lower998": pl.Float64,
        "funnel_upper998": pl.Float64,
        "funnel_status": pl.String,
        "funnel_status95": pl.String,
        "assessment": pl.String,
        "decile": pl.Int8,
        "percentile_rank": pl.Float64,
    }
    missing = {k: pl.lit(None, t) for k, t in defaults.items() if k not in df.columns}
    df = df.with_columns(**missing)
    return df.select(
        "period", "subgroup", "level", "org_id", "parent_id", *compute.VALUE_COLUMNS, *defaults
    )


def inequalities(
    indicator: Indicator, cells: pl.DataFrame, orgs: compute.Orgs, weights: pl.DataFrame
) -> pl.DataFrame:
    """Values by deprivation quintile (1 = most deprived) for the locality and each
    neighbourhood."""
    cells = cells.join(orgs.frame(), on="practice_id", how="left", maintain_order="left").filter(
        pl.col("imd_quintile").is_not_null()
    )
    by = ["period", "subgroup", "imd_quintile"]
    locality = compute.summarise(indicator, cells, by, weights).with_columns(
        level=pl.lit("locality"), org_id=pl.lit(orgs.locality_id)
    )
    hood = compute.summarise(indicator, cells, [*by, "neighbourhood_id"], weights)
    hood = hood.with_columns(level=pl.lit("neighbourhood")).rename({"neighbourhood_id": "org_id"})
    columns = ["period", "subgroup", "level", "org_id", "imd_quintile", *compute.VALUE_COLUMNS]
    rows = pl.concat([locality.select(columns), hood.select(columns)], how="vertical_relaxed")
    rows = rows.with_columns(
        indicator_id=pl.lit(indicator.id),
        period=months.label_expr(pl.col("period")),
        publishable=pl.lit(True),
    )
    return rows.select("indicator_id", *columns, "publishable")


def gaps(rows: pl.DataFrame) -> pl.DataFrame:
    """The gap (and ratio) between the most and least deprived quintiles, from the rows of
    ``inequalities`` (or their disclosure-controlled copy: a suppressed end leaves no gap).
    Sorted by its keys: a full join's row order differs from run to run, and a published
    file should not."""
    keys = ["indicator_id", "period", "subgroup", "level", "org_id"]
    most = rows.filter(pl.col("imd_quintile") == 1).select(*keys, most_deprived="value")
    least = rows.filter(pl.col("imd_quintile") == 5).select(*keys, least_deprived="value")
    joined = most.join(least, on=keys, how="full", coalesce=True).with_columns(
        gap=pl.col("most_deprived") - pl.col("least_deprived"),
        ratio=pl.col("most_deprived") / pl.col("least_deprived"),
    )
    return joined.sort(keys, nulls_last=True)
