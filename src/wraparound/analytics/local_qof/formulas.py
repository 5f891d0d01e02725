"""The payment formulas of a local QOF scheme, in the manner of QOF (``docs/clinical-content.md``
cites the sources): each is a plain function for one value, used by the hand-worked tests, and
a Polars expression applying the same arithmetic to every practice and month at once.

- Achievement (%) = numerator / (denominator - exceptions) x 100. Exceptions are the
  personalised care adjustments of people who did not meet the numerator; no one left after
  them (a zero denominator, or everyone excepted) is no achievement: None, 0 points.
- Points: 0 below the lower threshold, the maximum at or above the upper, linear between:
  (achievement - lower) / (upper - lower) x maximum points.
- Contractor population index (CPI) = practice list size / the scheme's average list size.
- Adjusted prevalence factor (APF) = practice prevalence / reference prevalence, where
  prevalence is the indicator's denominator over the list size; 1 for indicators without a
  reference prevalence.
- Payment = points x pounds per point x CPI x APF.
"""

from __future__ import annotations

import polars as pl


def achievement(numerator: float, denominator: float, exceptions: float) -> float | None:
    eligible = denominator - exceptions
    if eligible <= 0:
        return None
    return 100.0 * numerator / eligible


def points(achieved: float | None, lower: float, upper: float, maximum: float) -> float:
    if achieved is None or achieved < lower:
        return 0.0
    if achieved >= upper:
        return float(maximum)
    return (achieved - lower) / (upper - lower) * maximum


def cpi(list_size: float, average_list_size: float | None) -> float:
    return 1.0 if average_list_size is None else list_size / average_list_size


def apf(denominator: float, list_size: float, reference_pct: float | None) -> float:
    if reference_pct is None:
        return 1.0
    if list_size <= 0:
        return 0.0
    return (100.0 * denominator / list_size) / reference_pct


def payment(points_: float, pounds_per_point: float, cpi_: float, apf_: float) -> float:
    return points_ * pounds_per_point * cpi_ * apf_


# Polars: the same arithmetic over columns -----------------------------------------------------


def achievement_expr(num: str, den: str, exc: str) -> pl.Expr:
    eligible = pl.col(den) - pl.col(exc)
    return pl.when(eligible > 0).then(100.0 * pl.col(num) / eligible).otherwise(None)


def points_expr(achieved: pl.Expr, lower: str, upper: str, maximum: str) -> pl.Expr:
    lo, hi, top = pl.col(lower), pl.col(upper), pl.col(maximum)
    return (
        pl.when(achieved.is_null() | (achieved < lo))
        .then(0.0)
        .when(achieved >= hi)
        .then(top)
        .otherwise((achieved - lo) / (hi - lo) * top)
    )


def cpi_expr(list_size: str, average_list_size: float | None) -> pl.Expr:
    if average_list_size is None:
        return pl.lit(1.0)
    return pl.col(list_size) / average_list_size


def apf_expr(den: str, list_size: str, reference_pct: str) -> pl.Expr:
    ref = pl.col(reference_pct)
    prevalence = pl.when(pl.col(list_size) > 0).then(100.0 * pl.col(den) / pl.col(list_size))
    return pl.when(ref.is_null()).then(1.0).otherwise(prevalence.fill_null(0.0) / ref)
