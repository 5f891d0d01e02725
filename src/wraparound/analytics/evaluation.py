"""The evaluation's statistics: from a practice-by-month panel to an effect with its interval.

Everything here takes a panel (a Polars frame, one row per practice and month) and returns
plain dicts, so the same functions run on the warehouse's panel (``evaluation_panel.py``)
and on the small panels the calibration test generates by the thousand. The panel's
columns:

* ``practice_id``, ``period`` (month number, 0 = the first month of the window),
  ``month`` (its first day, for display);
* ``first_treated``: the month the practice started (null for comparison practices);
* ``exposure``: person-months of the group at the practice in that month;
* one column of event counts per outcome (``emergency_admissions``, ...).

Three analyses per outcome, all on the rate per 1,000 person-months:

* **Difference-in-differences robust to staggered adoption**: Callaway and Sant'Anna's
  group-time average treatment effects (``differences.ATTgt``, outcome regression, never-
  treated practices as the comparison), aggregated over every treated cohort and period
  after its start. Months are grouped into quarters first (fewer, steadier cells; a
  practice's start counts from the quarter it falls in). Not a two-way fixed-effects
  regression, which is biased when effects vary with time since a staggered start. The
  effect is given in rate units and relative to the treated practices' counterfactual rate
  (their observed rate less the effect), with a 95% interval from the analytic standard
  error.
* **Interrupted time series** of the treated practices together: a quasi-Poisson GLM of
  monthly events with the log of exposure as offset, a linear trend, calendar-month terms
  for seasonality, and a level change and trend change at the start (for a staggered
  rollout, each practice's series is aligned on its own start, summed by calendar month
  after the earliest start); the level change is the effect, exp(β) − 1, with its 95%
  interval. It has no comparison group, so it cannot tell the intervention from anything
  else that changed that month: it is shown beside the difference-in-differences, never
  instead of it.
* **Placebo on the pre-period**: the difference-in-differences again on the months before
  the earliest start only, with every treated practice pretending to start halfway through
  them. A real pre-existing difference in trends shows as a "significant" placebo effect.

and the comparison group's **balance**: each practice characteristic's mean in treated and
comparison practices and the standardised mean difference.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

Z95 = 1.959963984540054
PER = 1000.0  # rates per 1,000 person-months


def _rate(panel: pl.DataFrame, outcome: str) -> pl.Series:
    return PER * panel[outcome] / panel["exposure"].clip(lower_bound=1e-9)


def quarterly(panel: pl.DataFrame, outcomes: list[str]) -> pl.DataFrame:
    """The monthly panel summed into quarters (``period`` // 3); ``first_treated`` becomes
    the quarter of the start."""
    return (
        panel.with_columns(
            (pl.col("period") // 3).alias("period"),
            (pl.col("first_treated") // 3).alias("first_treated"),
        )
        .group_by(["practice_id", "period"])
        .agg(
            pl.col("first_treated").first(),
            pl.col("exposure").sum(),
            *[pl.col(o).sum() for o in outcomes],
        )
        .sort(["practice_id", "period"])
    )


def did(
    panel: pl.DataFrame, outcome: str, *, by_quarter: bool = True, event_study: bool = True
) -> dict:
    """Callaway-Sant'Anna ATT for ``outcome`` (see the module's docstring)."""
    from differences import ATTgt

    data = quarterly(panel, [outcome]) if by_quarter else panel
    data = data.filter(pl.col("exposure") > 0)
    treated = data.filter(pl.col("first_treated").is_not_null())
    if treated.is_empty() or data.filter(pl.col("first_treated").is_null()).is_empty():
        raise ValueError("the evaluation needs treated and comparison practices")
    first_period = int(data["period"].min())
    if int(treated["first_treated"].min()) <= first_period:
        raise ValueError("a practice started before the first period: there is no pre-period")
    frame = data.with_columns(y=_rate(data, outcome)).to_pandas()
    frame["cohort"] = frame["first_treated"].astype("float")
    frame = frame.set_index(["practice_id", "period"])[["y", "cohort"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ATTgt(data=frame, cohort_column="cohort")
        model.fit(formula="y", est_method="reg", control_group="never_treated", progress_bar=False)
        simple = model.aggregate("simple")
        event = model.aggregate("event") if event_study else None
    att = float(simple.iloc[0, 0])
    se = float(simple.iloc[0, 1])
    n_treated = int(treated["practice_id"].n_unique())
    n_comparison = int(data.filter(pl.col("first_treated").is_null())["practice_id"].n_unique())
    post = frame[(frame["cohort"].notna())]
    post = post[post.index.get_level_values("period") >= post["cohort"]]
    observed = float(post["y"].mean())
    counterfactual = observed - att
    events = [
        {
            "relative_period": int(k),
            "att": float(row.iloc[0]),
            "lower": float(row.iloc[2]),
            "upper": float(row.iloc[3]),
        }
        for k, row in (event.iterrows() if event is not None else ())
    ]
    return _effect(att, se, counterfactual, df=max(min(n_treated, n_comparison) - 1, 1)) | {
        "method": "Callaway-Sant'Anna ATT(g,t), never-treated comparison"
        + (", quarterly" if by_quarter else ", monthly"),
        "observed_rate": observed,
        "event_study": events,
        "treated_practices": n_treated,
        "comparison_practices": n_comparison,
    }


def _effect(att: float, se: float, counterfactual: float, df: int | None = None) -> dict:
    """The effect, its 95% interval and p-value. With ``df`` the critical value is
    Student's t on that many degrees of freedom (fewer practices than the normal
    approximation needs: the influence-function standard error is clustered by practice,
    and with a handful of treated practices a normal interval is too narrow)."""
    from scipy import stats

    crit = Z95 if df is None else float(stats.t.ppf(0.975, df))
    lower, upper = att - crit * se, att + crit * se
    if se > 0:
        z = abs(att / se)
        p = float(2 * stats.t.sf(z, df)) if df is not None else math.erfc(z / math.sqrt(2))
    else:
        p = 0.0 if att else 1.0
    base = counterfactual if counterfactual > 0 else float("nan")
    return {
        "att": att,
        "se": se,
        "lower": lower,
        "upper": upper,
        "p_value": p,
        "significant": bool(p < 0.05),
        "df": df,
        "counterfactual_rate": counterfactual,
        "relative": att / base,
        "relative_lower": lower / base,
        "relative_upper": upper / base,
    }


def placebo(panel: pl.DataFrame, outcome: str) -> dict:
    """The difference-in-differences on the pre-period only, with a pretend start halfway
    through it for every treated practice (the real start order kept)."""
    earliest = int(panel["first_treated"].min())
    pre = panel.filter(pl.col("period") < earliest)
    fake = max(earliest // 2, 3)
    if earliest - fake < 3:
        raise ValueError("the pre-period is too short for a placebo test (under 6 months)")
    pre = pre.with_columns(
        pl.when(pl.col("first_treated").is_not_null())
        .then(pl.lit(fake))
        .otherwise(None)
        .alias("first_treated")
    )
    out = did(pre, outcome)
    out["pretend_start_period"] = fake
    return out


def its(panel: pl.DataFrame, outcome: str) -> dict:
    """Interrupted time series of the treated practices (see the module's docstring)."""
    import statsmodels.api as sm

    treated = panel.filter(pl.col("first_treated").is_not_null())
    # Align each practice on its own start, keeping calendar months for seasonality.
    series = (
        treated.with_columns(
            (pl.col("period") >= pl.col("first_treated")).cast(pl.Int8).alias("post"),
            (pl.col("period") - pl.col("first_treated")).clip(lower_bound=0).alias("since"),
        )
        .group_by("period")
        .agg(
            pl.col(outcome).sum().alias("events"),
            pl.col("exposure").sum(),
            pl.col("post").mean(),
            pl.col("since").mean(),
            pl.col("month").first(),
        )
        .filter(pl.col("exposure") > 0)
        .sort("period")
    )
    t = series["period"].to_numpy().astype(float)
    calendar = series["month"].dt.month().to_numpy()
    seasons = np.stack([(calendar == m).astype(float) for m in range(2, 13)], axis=1)
    design = np.column_stack(
        [np.ones_like(t), t, series["post"].to_numpy(), series["since"].to_numpy(), seasons]
    )
    keep = design.std(axis=0) > 0
    keep[0] = True
    design = design[:, keep]
    model = sm.GLM(
        series["events"].to_numpy(),
        design,
        family=sm.families.Poisson(),
        offset=np.log(series["exposure"].to_numpy()),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(scale="X2")
    beta, se = float(fit.params[2]), float(fit.bse[2])
    p = float(fit.pvalues[2])
    return {
        "method": "quasi-Poisson segmented regression with calendar-month seasonality",
        "relative": math.expm1(beta),
        "relative_lower": math.expm1(beta - Z95 * se),
        "relative_upper": math.expm1(beta + Z95 * se),
        "p_value": p,
        "significant": bool(p < 0.05),
        "trend_change_per_month": math.expm1(float(fit.params[3])) if keep[3] else None,
        "months": int(series.height),
    }


def balance(practices: pl.DataFrame, columns: list[str]) -> list[dict]:
    """Treated against comparison practices on each column: means and the standardised mean
    difference (difference over the pooled standard deviation). ``practices`` has one row
    per practice with ``treated`` (bool) and the columns."""
    out = []
    for c in columns:
        t = practices.filter(pl.col("treated"))[c].cast(pl.Float64)
        u = practices.filter(~pl.col("treated"))[c].cast(pl.Float64)
        pooled = math.sqrt(((t.var() or 0.0) + (u.var() or 0.0)) / 2)
        diff = float(t.mean()) - float(u.mean())
        out.append(
            {
                "characteristic": c,
                "treated": float(t.mean()),
                "comparison": float(u.mean()),
                "smd": diff / pooled if pooled > 0 else 0.0,
            }
        )
    return out


def analyse(panel: pl.DataFrame, outcome: str) -> dict:
    """All three analyses of one outcome; the verdict is the difference-in-differences'."""
    main = did(panel, outcome)
    result = {"outcome": outcome, "did": main, "its": its(panel, outcome)}
    try:
        result["placebo"] = placebo(panel, outcome)
    except ValueError as exc:
        result["placebo"] = {"error": str(exc)}
    result["attributable"] = bool(
        main["significant"]
        and not result["placebo"].get("significant", False)
        and "error" not in result["placebo"]
    )
    return result
