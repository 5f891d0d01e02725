"""The statistics of English public-health indicators, vectorised over numpy arrays.

These are the methods OHID (formerly PHE) uses for Fingertips and implements in the R package
PHEindicatormethods; matching them exactly matters because commissioners compare our figures
with published ones, and a practice flagged as an outlier must be flagged for the same reason
a published indicator would flag it. ``tests/unit/test_stats.py`` compares the funnels with
PHEindicatormethods' own reference outputs, and ``tests/unit/test_stats_reference.py`` the
intervals (and the pipeline's values) with PHStatsMethods, DHSC's Python implementation of the
same methods.

- Proportions: Wilson score interval (Wilson 1927; Newcombe and Altman 2000).
- Counts and crude rates: Byar's approximation to the Poisson interval for 10 or more events,
  the exact (chi-squared) Poisson interval below 10 (Breslow and Day 1987).
- Directly standardised rates: Dobson's method (Dobson et al. 1991) with Byar's limits for
  the total count; not calculated when the total count is under 10 (Morris et al. 2020).
- Funnel plots: control limits at 95% and 99.8% (z = 1.96 and 3.09) around the peer value,
  found by inverting the interval of the indicator itself, so that a point lies outside a
  limit exactly when its own interval at that level excludes the peer value: Wilson for
  proportions (PHEindicatormethods ``sigma_adjustment``) and exact Poisson for rates
  (``poisson_funnel``).
- Deciles by PHEindicatormethods' ``phe_quantile`` rule and percentile ranks as
  OpenPrescribing shows them.

Arrays may contain NaN (no data); results are NaN there rather than raising, because one
empty practice must not stop the run.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special, stats

LEVELS = (0.95, 0.998)
"""The two confidence levels every indicator reports: 95% and 99.8% (about 2 and 3 sd)."""

DSR_MIN_EVENTS = 10
"""Directly standardised rates are not calculated below this many events (OHID guidance)."""

EXACT_BELOW = 10
"""Counts below this use the exact Poisson interval; Byar's approximation from here up."""


@functools.cache
def z_value(confidence: float) -> float:
    """The two-sided normal quantile: 1.959964 for 95%, 3.090232 for 99.8%. Cached: only a
    handful of levels are ever asked for, and scipy's ``ppf`` costs about 0.1 ms a call, which
    was most of the time of per-row interval checks (the disclosure checks call the interval
    functions once per published row)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _f(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


# ---------------------------------------------------------------------------------------------
# Proportions
# ---------------------------------------------------------------------------------------------


def wilson(x, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits of the proportion x/n (NaN where n is 0 or missing)."""
    x, n = _f(x), _f(n)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(n > 0, 1 - x / n, np.nan)
        root = z * np.sqrt(z * z + 4 * x * q)
        denom = 2 * (n + z * z)
        lower = (2 * x + z * z - root) / denom
        upper = (2 * x + z * z + root) / denom
    bad = ~(n > 0)
    lower[bad] = np.nan
    upper[bad] = np.nan
    return lower, upper


# ---------------------------------------------------------------------------------------------
# Counts and rates
# ---------------------------------------------------------------------------------------------


def byars_lower(x, confidence: float = 0.95) -> np.ndarray:
    """Byar's lower limit of a Poisson count (NaN where it would be negative, as in R)."""
    x = _f(x)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
    out[~(out >= 0)] = np.nan
    return out


def byars_upper(x, confidence: float = 0.95) -> np.ndarray:
    """Byar's upper limit of a Poisson count."""
    x1 = _f(x) + 1
    z = z_value(confidence)
    return x1 * (1 - 1 / (9 * x1) + z / (3 * np.sqrt(x1))) ** 3


def exact_lower(x, confidence: float = 0.95) -> np.ndarray:
    """Exact Poisson lower limit: chi-squared(alpha/2, 2x) / 2, and 0 for no events."""
    x = _f(x)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore"):
        out = np.where(x > 0, special.gammaincinv(np.maximum(x, 1e-300), alpha / 2), 0.0)
    out[np.isnan(x)] = np.nan
    return out


def exact_upper(x, confidence: float = 0.95) -> np.ndarray:
    """Exact Poisson upper limit: chi-squared(1 - alpha/2, 2x + 2) / 2."""
    x = _f(x)
    return special.gammaincinv(x + 1, 1 - (1 - confidence) / 2)


def count_limits(x, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Limits of an observed count: exact below ``EXACT_BELOW`` events, Byar's from there."""
    x = _f(x)
    exact = x < EXACT_BELOW
    lower = np.where(exact, exact_lower(x, confidence), byars_lower(x, confidence))
    upper = np.where(exact, exact_upper(x, confidence), byars_upper(x, confidence))
    return lower, upper


def rate_limits(
    x, denominator, confidence: float = 0.95, multiplier: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Limits of the crude rate multiplier * x / denominator (NaN without a denominator)."""
    x, d = _f(x), _f(denominator)
    lower, upper = count_limits(x, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(d > 0, multiplier / d, np.nan)
    return lower * scale, upper * scale


# ---------------------------------------------------------------------------------------------
# Directly standardised rates
# ---------------------------------------------------------------------------------------------


def dobson_limits(
    total_count,
    dsr,
    variance,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Dobson's limits of a directly standardised rate.

    ``dsr`` is sum(w x / n) / sum(w) and ``variance`` is sum(w^2 x / n^2) / sum(w)^2, both in
    the rate's own units; the interval scales Byar's limits of the total count ``O`` by
    sqrt(variance / O). Below ``DSR_MIN_EVENTS`` events the rate and its limits are NaN.
    """
    o, dsr, var = _f(total_count), _f(dsr), _f(variance)
    shown = o >= DSR_MIN_EVENTS
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(var / o)
        lower = dsr + scale * (byars_lower(o, confidence) - o)
        upper = dsr + scale * (byars_upper(o, confidence) - o)
    lower[~shown] = np.nan
    upper[~shown] = np.nan
    return lower, upper


# ---------------------------------------------------------------------------------------------
# Funnel plots
# ---------------------------------------------------------------------------------------------


def proportion_funnel(n, average, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits (as proportions) for a sample of size ``n`` around ``average`` (one
    peer value, or one per sample).

    The limit is the proportion whose Wilson interval at ``confidence`` just reaches the
    average (the closed form of PHEindicatormethods' ``sigma_adjustment``), clipped to 0-1.
    """
    n = _f(n)
    z2 = stats.norm.ppf(0.5 + confidence / 2) ** 2
    p = _f(average)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = p * (n / z2 + 1)
        root = np.sqrt(
            (-8 * p * (n / z2 + 1)) ** 2
            - 64 * (1 / z2 + 1 / n) * p * (n * (p * (n / z2 + 2) - 1) + z2 * (p - 1))
        )
        last = 1 / z2 + 1 / n
        lower = (first - root / 8) / last / n
        upper = (first + root / 8) / last / n
    return np.clip(lower, 0, 1), np.clip(upper, 0, 1)


def _odds(p: np.ndarray) -> np.ndarray:
    """p / (1 - p): a share of all events back to events per event of the other kind
    (infinite at p = 1, NaN where p is)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p < 1, p / (1 - p), np.where(p == 1, np.inf, np.nan))


def ratio_limits(
    x, y, confidence: float = 0.95, multiplier: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Limits of the ratio multiplier * x / y of two event counts (follow-up attendances
    per first attendance), NaN where y is 0.

    Both counts vary, so the count of ``y`` cannot be treated as fixed exposure as a rate's
    person-time is (that interval would be too narrow by about sqrt(1 + x / y)). Given the
    x + y events, x is binomial with p = R / (1 + R) for the true ratio R (the conditional
    method for a ratio of two Poisson counts); the Wilson limits of x / (x + y) are mapped
    back by R = p / (1 - p), which is increasing, so the limits keep their coverage."""
    x, y = _f(x), _f(y)
    lower, upper = wilson(x, x + y, confidence)
    lower, upper = _odds(lower) * multiplier, _odds(upper) * multiplier
    bad = ~(y > 0)
    lower[bad] = np.nan
    upper[bad] = np.nan
    return lower, upper


def ratio_funnel(n, average, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Control limits of a ratio (not multiplied) for ``n`` = x + y events around the peer's
    share ``average`` = peer x / (peer x + peer y): the Wilson inversion of
    ``proportion_funnel``, mapped by p / (1 - p) as ``ratio_limits`` maps its interval, so a
    point is outside a limit exactly when its own interval excludes the peer ratio. The upper
    limit is infinite where the proportion's is 1 (few events: no upper limit)."""
    lower, upper = proportion_funnel(n, average, confidence)
    return _odds(lower), _odds(upper)


def _solve_count(target_p: float, expected: np.ndarray, shift: float) -> np.ndarray:
    """The count c >= 0 with P(c + shift, E) == target_p, where P is the regularised lower
    incomplete gamma function (decreasing in c). ``gammainc(c + 1, E) = 1 - alpha/2`` says
    the exact upper limit of c is E; ``gammainc(c, E) = alpha/2`` that its exact lower limit
    is E. ``gammainc(a, E)`` is the chi-squared distribution function with 2a degrees of
    freedom at 2E, so scipy's inverse in the degrees of freedom (``chdtriv``) solves it: the
    same counts as the bisection it replaced to within 1e-13 relative, in a fifth to two
    thirds of the time. With no events expected (a peer rate of 0) the count is 0, as the
    bisection found it; ``chdtriv`` has no answer there."""
    with np.errstate(invalid="ignore"):
        count = np.maximum(special.chdtriv(target_p, 2 * expected) / 2 - shift, 0.0)
    return np.where(expected > 0, count, 0.0)


def rate_funnel(
    denominator, average, confidence: float, multiplier: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Control limits of a rate for a population (person-time) ``denominator`` around the
    peer rate ``average`` (per unit of person-time; one value, or one per population).

    With ``E = average * denominator`` expected events, the lower limit is the count whose
    exact upper Poisson limit equals E and the upper limit the count whose exact lower limit
    equals E, each divided by the denominator: the points where PHEindicatormethods'
    ``poisson_funnel`` draws the funnel (treating counts as continuous between integers).
    """
    d = _f(denominator)
    expected = _f(average) * d
    alpha = 1 - confidence
    # Below -ln(alpha/2) expected events even a count of 0 is not significantly low.
    floor = -np.log(alpha / 2)
    low_count = np.where(expected <= floor, 0.0, _solve_count(1 - alpha / 2, expected, shift=1.0))
    high_count = _solve_count(alpha / 2, expected, shift=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(d > 0, multiplier / d, np.nan)
    return low_count * scale, high_count * scale


def funnel_status(value, lower, upper) -> np.ndarray:
    """'high', 'low' or 'within' the limits; None where there is no value or limit.

    Status comes only from the limits (never from rank), so a small practice with a wide
    interval is never called an outlier merely for being at the end of a league table.
    """
    v, lo, hi = _f(value), _f(lower), _f(upper)
    out = np.full(v.shape, None, dtype=object)
    known = ~(np.isnan(v) | np.isnan(lo) | np.isnan(hi))
    out[known] = "within"
    out[known & (v > hi)] = "high"
    out[known & (v < lo)] = "low"
    return out


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------


def deciles(values) -> np.ndarray:
    """Decile 1-10 of each value among those given, 10 = highest values (PHEindicatormethods
    ``phe_quantile`` with ``invert = FALSE``); NaN for missing values and when fewer than 10
    values have one."""
    v = _f(values)
    out = np.full(v.shape, np.nan)
    has = ~np.isnan(v)
    count = int(has.sum())
    if count < 10:
        return out
    rank = stats.rankdata(v[has], method="min")
    q = np.floor(11 - np.ceil(((count + 1) - rank) / (count / 10)))
    out[has] = np.where(q == 0, 1, q)
    return out


def percentile_ranks(values) -> np.ndarray:
    """Percentile rank 0-100: (rank - 1) / (count - 1), lowest value 0, highest 100, ties
    sharing the lowest rank; NaN for missing values and when only one value has one."""
    v = _f(values)
    out = np.full(v.shape, np.nan)
    has = ~np.isnan(v)
    count = int(has.sum())
    if count < 2:
        return out
    rank = stats.rankdata(v[has], method="min")
    out[has] = 100 * (rank - 1) / (count - 1)
    return out
