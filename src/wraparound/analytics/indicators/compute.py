"""From cells to published values: every level, interval, peer, funnel, decile and trend.

Cells (``compile``) are counts per period, practice, deprivation quintile and clinician.
Summing them gives each level (practice, neighbourhood, locality, clinician within practice,
and each quintile), so the levels add up exactly; the statistics (``stats``) then turn the
sums into values and intervals. Funnel limits are drawn around the *peer*: the locality for
practices and neighbourhoods, the practice for its clinicians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from wraparound import vocabulary
from wraparound.analytics import stats
from wraparound.analytics.indicators.definition import Indicator

ALL = "all"
"""The subgroup of an indicator without a breakdown."""

CELL_KEYS = ["period", "practice_id", "imd_quintile", "clinician", "subgroup"]
DSR_STRATA = ["age_band", "sex"]
DSR_TOTAL_WEIGHT = 2 * 100_000.0
"""ESP 2013 weights for each sex: the standard population is the ESP for women plus the ESP
for men."""

VALUE_COLUMNS = list(vocabulary.INDICATOR_VALUES)


@dataclass(frozen=True)
class Orgs:
    """Practices' neighbourhoods and the locality id, from the organisations table."""

    neighbourhood_of: dict[str, str]
    locality_id: str

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "practice_id": list(self.neighbourhood_of),
                "neighbourhood_id": list(self.neighbourhood_of.values()),
            },
            schema={"practice_id": pl.String, "neighbourhood_id": pl.String},
        )


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------


def cells_frame(
    indicator: Indicator,
    cells: pl.DataFrame | None,
    numerator: pl.DataFrame | None,
    denominator: pl.DataFrame | None,
) -> pl.DataFrame:
    """The compiled results as one frame with the same columns for every indicator type."""
    if cells is None and indicator.type == "ratio":
        cells = _ratio_cells(numerator, denominator)
    elif cells is None:
        cells = _rate_cells(numerator, denominator)
    for name, dtype in [
        ("clinician", pl.String),
        ("subgroup", pl.String),
        ("age_band", pl.Int8),
        ("sex", pl.String),
        ("measure_value", pl.Int32),
    ]:
        if name not in cells.columns:
            cells = cells.with_columns(pl.lit(None, dtype).alias(name))
    return cells.with_columns(
        pl.col("subgroup").fill_null(ALL),
        pl.col("period").cast(pl.Int32),
        pl.col("imd_quintile").cast(pl.Int8),
        pl.col("numerator").cast(pl.Float64),
        pl.col("denominator").cast(pl.Float64),
    ).select([*CELL_KEYS, *DSR_STRATA, "measure_value", "numerator", "denominator"])


CANONICAL_ORDER = [*CELL_KEYS, *DSR_STRATA, "measure_value"]


def canonical(cells: pl.DataFrame, in_order: bool = False) -> pl.DataFrame:
    """Cells in one order whatever computed them (a run of every month, or one reusing
    most of them): the sums above them then add in the same order, to the last bit.
    ``in_order``: they are in that order already (read back from a run).

    The frame is rebuilt from Arrow, which drops Polars' "sorted" flags: a sort sets them
    and a frame read from Parquet has none, and a group-by over a column flagged sorted
    adds in another order than one over the same column unflagged."""
    if not in_order:
        cells = cells.sort(CANONICAL_ORDER, nulls_last=True)
    return pl.from_arrow(cells.rechunk().to_arrow())


def _rate_cells(numerator: pl.DataFrame, denominator: pl.DataFrame) -> pl.DataFrame:
    """Events joined to person-time; person-time with no events is a numerator of 0, for
    every subgroup seen anywhere (a practice with no cardiology attendances has a rate 0)."""
    keys = [c for c in denominator.columns if c != "denominator"]
    numerator = numerator.with_columns(pl.col("subgroup").fill_null(ALL))
    subgroups = numerator.select("subgroup").unique()
    if subgroups.height == 0:
        subgroups = pl.DataFrame({"subgroup": [ALL]})
    denominator = denominator.join(subgroups, how="cross")
    return denominator.join(
        numerator, on=[*keys, "subgroup"], how="left", nulls_equal=True, maintain_order="left"
    ).with_columns(pl.col("numerator").fill_null(0.0))


def _ratio_cells(numerator: pl.DataFrame, denominator: pl.DataFrame) -> pl.DataFrame:
    """The two event counts of a ratio side by side: a cell with events on one side only has
    0 on the other (follow-ups with no first attendance is a denominator of 0, no value)."""
    keys = ["period", "practice_id", "imd_quintile", "subgroup"]
    num = numerator.rename({"count": "numerator"})
    den = denominator.rename({"count": "denominator"})
    return num.join(den, on=keys, how="full", coalesce=True, nulls_equal=True).with_columns(
        pl.col("numerator").fill_null(0.0), pl.col("denominator").fill_null(0.0)
    )


# ---------------------------------------------------------------------------------------------
# Values and intervals
# ---------------------------------------------------------------------------------------------


def summarise(
    indicator: Indicator, cells: pl.DataFrame, keys: list[str], weights: pl.DataFrame
) -> pl.DataFrame:
    """Sum cells over ``keys`` and add value and 95% / 99.8% limits (``VALUE_COLUMNS``), plus
    ``funnel_denominator``: the denominator a funnel plot uses (for a DSR, count / rate).

    Groups keep the cells' order (``maintain_order``), so floating-point sums add in the
    same order in every run: cells in ``canonical`` order give the same figures to the last
    bit, whether every month was computed or most were reused (``reuse.py``)."""
    if indicator.type == "median":
        out = _median(cells, keys)
    elif indicator.type == "dsr":
        out = _dsr(indicator, cells, keys, weights)
    else:
        out = cells.group_by(keys, maintain_order=True).agg(
            pl.col("numerator").sum(), pl.col("denominator").sum()
        )
        out = _with_limits(indicator, out)
    return out


def _with_limits(indicator: Indicator, df: pl.DataFrame) -> pl.DataFrame:
    x = df["numerator"].to_numpy().astype(float)
    n = df["denominator"].to_numpy().astype(float)
    m = indicator.multiplier
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(n > 0, x / n * m, np.nan)
    limits = {}
    for level, suffix in zip(stats.LEVELS, ("95", "998"), strict=True):
        if indicator.type == "proportion":
            lo, hi = stats.wilson(x, n, level)
            lo, hi = lo * m, hi * m
        elif indicator.type == "ratio":
            lo, hi = stats.ratio_limits(x, n, level, m)
        else:
            lo, hi = stats.rate_limits(x, n, level, m)
        limits[f"lower{suffix}"] = lo
        limits[f"upper{suffix}"] = hi
    # A ratio's funnel is drawn on the proportion x / (x + y) of all its events (stats).
    funnel_n = pl.col("numerator") + pl.col("denominator")
    return df.with_columns(
        value=_series(value),
        **{k: _series(v) for k, v in limits.items()},
        funnel_denominator=funnel_n if indicator.type == "ratio" else pl.col("denominator"),
    )


def _series(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64).fill_nan(None)


def _dsr(
    indicator: Indicator, cells: pl.DataFrame, keys: list[str], weights: pl.DataFrame
) -> pl.DataFrame:
    strata = cells.group_by([*keys, *DSR_STRATA], maintain_order=True).agg(
        pl.col("numerator").sum(), pl.col("denominator").sum()
    )
    strata = strata.join(weights, on="age_band", how="left", maintain_order="left")
    n = pl.col("denominator")
    strata = strata.with_columns(
        wr=pl.when(n > 0).then(pl.col("weight") * pl.col("numerator") / n).otherwise(0.0),
        sq=pl.when(n > 0).then(pl.col("weight") ** 2 * pl.col("numerator") / n**2).otherwise(0.0),
    )
    out = strata.group_by(keys, maintain_order=True).agg(
        pl.col("numerator").sum(),
        pl.col("denominator").sum(),
        pl.col("wr").sum(),
        pl.col("sq").sum(),
    )
    o = out["numerator"].to_numpy().astype(float)
    dsr = out["wr"].to_numpy() / DSR_TOTAL_WEIGHT
    var = out["sq"].to_numpy() / DSR_TOTAL_WEIGHT**2
    m = indicator.multiplier
    shown = o >= stats.DSR_MIN_EVENTS
    limits = {}
    for level, suffix in zip(stats.LEVELS, ("95", "998"), strict=True):
        lo, hi = stats.dobson_limits(o, dsr, var, level)
        limits[f"lower{suffix}"] = _series(lo * m)
        limits[f"upper{suffix}"] = _series(hi * m)
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = np.where(shown & (dsr > 0), o / dsr, np.nan)
    return out.drop("wr", "sq").with_columns(
        value=_series(np.where(shown, dsr * m, np.nan)),
        **limits,
        funnel_denominator=_series(derived),
    )


def _median(cells: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    hist = (
        cells.group_by([*keys, "measure_value"], maintain_order=True)
        .agg(pl.col("denominator").sum())
        .sort([*keys, "measure_value"], nulls_last=True)
    )
    hist = hist.with_columns(
        cum=pl.col("denominator").cum_sum().over(keys),
        total=pl.col("denominator").sum().over(keys),
    )
    # The two middle positions of the sorted values (equal when the total is odd).
    lower_pos = ((pl.col("total") + 1) / 2).floor()
    upper_pos = (pl.col("total") / 2).floor() + 1
    out = hist.group_by(keys, maintain_order=True).agg(
        denominator=pl.col("total").first(),
        a=pl.col("measure_value").filter(pl.col("cum") >= lower_pos).first(),
        b=pl.col("measure_value").filter(pl.col("cum") >= upper_pos).first(),
    )
    none = pl.lit(None, pl.Float64)
    return out.with_columns(
        numerator=none,
        value=(pl.col("a") + pl.col("b")) / 2,
        lower95=none,
        upper95=none,
        lower998=none,
        upper998=none,
        funnel_denominator=none,
    ).drop("a", "b")


# ---------------------------------------------------------------------------------------------
# Peers and funnels
# ---------------------------------------------------------------------------------------------


def with_funnel(
    indicator: Indicator, rows: pl.DataFrame, peers: pl.DataFrame, on: list[str]
) -> pl.DataFrame:
    """Add the peer value, 95% and 99.8% funnel limits at each row's denominator, and the
    funnel status (99.8% and 95%) from those limits only."""
    peer = peers.select(
        *on, peer_value="value", peer_numerator="numerator", peer_denominator="denominator"
    )
    rows = rows.join(peer, on=on, how="left", nulls_equal=True)
    m = indicator.multiplier
    d = rows["funnel_denominator"].to_numpy().astype(float)
    value = rows["value"].to_numpy().astype(float)
    if indicator.type == "dsr":
        average = rows["peer_value"].to_numpy().astype(float) / m
    elif indicator.type == "ratio":  # the peer's share of all its events on the numerator side
        pn = rows["peer_numerator"].to_numpy().astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            average = pn / (pn + rows["peer_denominator"].to_numpy().astype(float))
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            average = rows["peer_numerator"].to_numpy().astype(float) / rows[
                "peer_denominator"
            ].to_numpy().astype(float)
    columns = {}
    if indicator.type == "median":
        nan = np.full(rows.height, np.nan)
        for name in vocabulary.FUNNEL_LIMITS:
            columns[name] = nan
    else:
        for level, suffix in zip(stats.LEVELS, ("95", "998"), strict=True):
            lo, hi = _funnel_limits(indicator, d, average, level)
            columns[f"funnel_lower{suffix}"] = lo * m
            columns[f"funnel_upper{suffix}"] = hi * m
    status998 = stats.funnel_status(value, columns["funnel_lower998"], columns["funnel_upper998"])
    status95 = stats.funnel_status(value, columns["funnel_lower95"], columns["funnel_upper95"])
    for name, limit in columns.items():  # a ratio's upper limit may be unbounded: none shown
        columns[name] = np.where(np.isinf(limit), np.nan, limit)
    return (
        rows.drop("peer_numerator", "peer_denominator")
        .with_columns(
            **{k: _series(v) for k, v in columns.items()},
            funnel_status=pl.Series(status998.tolist(), dtype=pl.String),
            funnel_status95=pl.Series(status95.tolist(), dtype=pl.String),
        )
        .with_columns(assessment=_assessment(indicator.direction))
    )


def _funnel_limits(indicator: Indicator, d: np.ndarray, average: np.ndarray, level: float):
    """Limits per row; each row may have its own peer (clinicians within practices)."""
    lower = np.full(d.shape, np.nan)
    upper = np.full(d.shape, np.nan)
    ok = ~(np.isnan(d) | np.isnan(average)) & (d > 0)
    funnel = {"proportion": stats.proportion_funnel, "ratio": stats.ratio_funnel}.get(
        indicator.type, stats.rate_funnel
    )
    lower[ok], upper[ok] = funnel(d[ok], average[ok], level)
    return lower, upper


def _assessment(direction: str) -> pl.Expr:
    """What a funnel status means for patients: better or worse than peers, or (where either
    tail matters) high or low."""
    status = pl.col("funnel_status")
    good, bad = {
        "higher": ("better", "worse"),
        "lower": ("worse", "better"),
        "both": ("high", "low"),
    }[direction]
    return (
        pl.when(status == "high")
        .then(pl.lit(good))
        .when(status == "low")
        .then(pl.lit(bad))
        .when(status == "within")
        .then(pl.lit("similar"))
        .otherwise(pl.lit(None, pl.String))
    )


def with_ranks(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Deciles (PHE rule, ``stats.deciles``) and percentile ranks (``stats.percentile_ranks``)
    of practices within each period/subgroup, as Polars expressions over the groups: the
    same formulas, without a Python loop over thousands of groups."""
    value = pl.col("value")
    count = value.count().over(by)
    rank = value.rank("min").over(by)
    q = (11 - ((count + 1 - rank) / (count / 10)).ceil()).floor()
    return rows.with_columns(
        decile=pl.when(count < 10).then(None).when(q == 0).then(1).otherwise(q).cast(pl.Int8),
        percentile_rank=pl.when(count < 2)
        .then(None)
        .otherwise(100 * (rank - 1) / (count - 1))
        .cast(pl.Float64),
    )


def with_trend(indicator: Indicator, rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Change since the same month a year earlier and whether it is beyond chance (95%
    intervals that do not overlap), in the indicator's direction."""
    before = rows.select(
        *keys, "period", prev_value="value", prev_lower="lower95", prev_upper="upper95"
    ).with_columns(pl.col("period") + 12)
    rows = rows.join(before, on=[*keys, "period"], how="left", nulls_equal=True)
    up = pl.col("lower95") > pl.col("prev_upper")
    down = pl.col("upper95") < pl.col("prev_lower")
    good_up = {"higher": "improving", "lower": "worsening", "both": "up"}[indicator.direction]
    good_down = {"higher": "worsening", "lower": "improving", "both": "down"}[indicator.direction]
    trend = (
        pl.when(pl.col("prev_value").is_null() | pl.col("lower95").is_null())
        .then(pl.lit(None, pl.String))
        .when(up)
        .then(pl.lit(good_up))
        .when(down)
        .then(pl.lit(good_down))
        .otherwise(pl.lit("no significant change"))
    )
    return rows.with_columns(change_12m=pl.col("value") - pl.col("prev_value"), trend=trend).drop(
        "prev_value", "prev_lower", "prev_upper"
    )
