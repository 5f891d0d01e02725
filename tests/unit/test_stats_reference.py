"""Our statistics against PHStatsMethods, the reference implementation, to 1e-6 relative.

Why PHStatsMethods: the indicators must match the methods of English public-health indicators
(Fingertips), which OHID (formerly PHE) implements in the R package PHEindicatormethods. That
package's reference values for Wilson, Byar's, exact Poisson and Dobson limits are binary
Excel workbooks (tests/testthat/*.xlsx) that cannot be read here; its funnel references are
CSV and ``test_stats.py`` checks against them. PHStatsMethods (PyPI ``phstatsmethods``,
0.1.16, GPL-3, a development dependency only: runtime code never imports it) is the
Department of Health and Social Care's Python implementation of the same methods, with the same
formulas, so it can serve as an executable reference: every limit here is computed by both and
compared to 1e-6 relative (``assert_allclose(rtol=1e-6)``, no absolute slack).

What is compared, at 95% and 99.8%:

- proportions: ``stats.wilson`` and the pipeline (``compute.summarise``, per cent) against
  ``ph_proportion`` over x = 0..n, n = 1..100,000;
- counts: ``stats.count_limits`` against ``exact_lower``/``exact_upper`` for 1-9 events and
  ``byars_lower``/``byars_upper`` for 10-100,000; crude rates (``stats.rate_limits`` and the
  pipeline) against ``ph_rate`` with several denominators and multipliers;
- directly standardised rates: ``stats.dobson_limits`` against ``dobson_lower``/
  ``dobson_upper``, and the pipeline's DSR (``compute.summarise``, ESP 2013) against
  ``ph_dsr`` on synthetic age-sex data: small and large counts, zero cells, and the rule that
  no DSR is shown under 10 events;
- the same, on random inputs drawn by Hypothesis.

Where PHStatsMethods departs from the method, for reasons that are its own, the tests say so
and compare what the method defines:

- No events: the exact Poisson interval of 0 events is [0, -ln(alpha/2)] (the lower limit is
  the alpha/2 quantile of chi-squared with 0 degrees of freedom, a point mass at 0, as R's
  ``qchisq(p, 0)`` returns). PHStatsMethods computes it with scipy, whose chi-squared has no
  0-degree form, so its ``exact_lower(0)`` is NaN, and its ``byars_upper`` (so ``ph_rate``)
  rejects a count of 0. We compare the upper limit with its ``exact_upper(0)`` and check the
  lower limit is 0.
- Its convenience wrapper ``byars()`` passes 1 - confidence where ``byars_lower``/
  ``byars_upper`` expect the confidence (``byars(100, 0.95)`` is a 5% interval); ``ph_rate``
  and ``ph_dsr`` call ``byars_lower``/``byars_upper`` directly, and so do these tests.
- Our standard population is the ESP 2013 for each sex (38 age-sex strata, 200,000), while
  ``ph_dsr``'s built-in ESP join is by the 19 age bands only. We pass its own
  ``euro_standard_pop()`` once for each sex as ``ref_df``; and check its built-in join on a
  population split equally between the sexes with the same rates, whose age-sex DSR and limits
  are exactly those of the age-only DSR.
- ``ph_dsr`` rejects a stratum with no population; our pipeline counts it as contributing
  nothing. That case is not compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import PHStatsMethods as ph
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from PHStatsMethods.validation import ci_col

from wraparound.analytics import stats as st
from wraparound.analytics.indicators import compile as compiler
from wraparound.analytics.indicators import compute, definition

RTOL = 1e-6
LEVELS = st.LEVELS
SEXES = ("female", "male")
BANDS = 19


def _close(ours, reference, what=""):
    """Equal to 1e-6 relative, NaN only where the reference is NaN; no absolute slack."""
    np.testing.assert_allclose(
        np.asarray(ours, dtype=float),
        np.asarray(reference, dtype=float),
        rtol=RTOL,
        atol=0,
        err_msg=what,
    )


def _indicator(kind: str):
    """A packaged indicator of this type (its multiplier is what the pipeline applies)."""
    return next(i for i in definition.load() if i.type == kind)


def _weights() -> pl.DataFrame:
    return pl.from_arrow(compiler.esp2013())


def _ph_limits(frame: pd.DataFrame, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    return (
        frame[ci_col(confidence, "lower")].to_numpy(dtype=float),
        frame[ci_col(confidence, "upper")].to_numpy(dtype=float),
    )


# ---------------------------------------------------------------------------------------------
# Proportions
# ---------------------------------------------------------------------------------------------

SAMPLE_SIZES = [1, 2, 3, 4, 5, 7, 9, 10, 11, 19, 33, 50, 99, 100, 101, 250, 999, 1000, 1001]
SAMPLE_SIZES += [4321, 9999, 10000, 12345, 50000, 99999, 100000]


def _proportion_grid() -> tuple[np.ndarray, np.ndarray]:
    """Every x for n up to 101; for larger n the ends (0-20, n-20..n) and 101 points between."""
    xs, ns = [], []
    for n in SAMPLE_SIZES:
        if n <= 101:
            x = np.arange(n + 1)
        else:
            x = np.unique(np.r_[np.arange(21), np.linspace(0, n, 101).round(), n - np.arange(21)])
        xs.append(x)
        ns.append(np.full(x.shape, n))
    return np.concatenate(xs).astype(float), np.concatenate(ns).astype(float)


@pytest.fixture(scope="module")
def proportions():
    x, n = _proportion_grid()
    frame = pd.DataFrame({"x": x, "n": n})
    reference = ph.ph_proportion(
        frame, "x", "n", metadata=False, confidence=list(LEVELS), multiplier=100
    )
    return x, n, reference


def test_grid_covers_zero_and_n(proportions):
    x, n, _ = proportions
    assert (x == 0).sum() == len(SAMPLE_SIZES) and (x == n).sum() == len(SAMPLE_SIZES)
    assert n.min() == 1 and n.max() == 100_000


@pytest.mark.parametrize("confidence", LEVELS)
def test_wilson_matches_ph_proportion(proportions, confidence):
    x, n, reference = proportions
    lower, upper = st.wilson(x, n, confidence)
    ref_lower, ref_upper = _ph_limits(reference, confidence)
    _close(lower * 100, ref_lower, "lower")
    _close(upper * 100, ref_upper, "upper")
    # Both ends are exact: 0 of n has lower limit 0, n of n upper limit 1.
    assert (lower[x == 0] == 0).all() and (ref_lower[x == 0] == 0).all()
    _close(upper[x == n], np.ones((x == n).sum()))


def test_pipeline_proportions_match_ph_proportion(proportions):
    x, n, reference = proportions
    indicator = _indicator("proportion")
    cells = pl.DataFrame({"row": np.arange(x.size), "numerator": x, "denominator": n})
    ours = compute.summarise(indicator, cells, ["row"], _weights()).sort("row")
    assert indicator.multiplier == 100
    _close(ours["value"], reference["Value"], "value")
    for confidence, suffix in zip(LEVELS, ("95", "998"), strict=True):
        ref_lower, ref_upper = _ph_limits(reference, confidence)
        _close(ours[f"lower{suffix}"], ref_lower, f"lower{suffix}")
        _close(ours[f"upper{suffix}"], ref_upper, f"upper{suffix}")


# ---------------------------------------------------------------------------------------------
# Counts and crude rates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", LEVELS)
def test_exact_limits_under_ten_events(confidence):
    x = np.arange(1, 10, dtype=float)
    lower, upper = st.count_limits(x, confidence)
    _close(lower, [ph.exact_lower(v, confidence) for v in x], "exact lower")
    _close(upper, [ph.exact_upper(v, confidence) for v in x], "exact upper")
    # PHStatsMethods' Byar's functions switch to the exact limits below 10 as well.
    _close(lower, [ph.byars_lower(v, confidence) for v in x], "byars_lower < 10")
    _close(upper, [ph.byars_upper(v, confidence) for v in x], "byars_upper < 10")


@pytest.mark.parametrize("confidence", LEVELS)
def test_no_events(confidence):
    # The exact interval of 0 events is [0, -ln(alpha/2)]. PHStatsMethods' exact_lower(0) is
    # NaN only because scipy has no chi-squared with 0 degrees of freedom (R's qchisq(p, 0)
    # is 0), and its byars_upper rejects 0 (module docstring): compare the upper limit.
    lower, upper = st.count_limits([0.0], confidence)
    assert lower[0] == 0
    _close(upper, [ph.exact_upper(0, confidence)], "exact upper of 0")
    _close(upper, [-np.log((1 - confidence) / 2)], "-ln(alpha/2)")
    assert np.isnan(ph.exact_lower(0, confidence))  # the documented departure, still there


@pytest.mark.parametrize("confidence", LEVELS)
def test_byars_limits_from_ten_events(confidence):
    x = np.unique(np.r_[np.arange(10, 2001), np.geomspace(10, 100_000, 400).round()])
    assert x.min() == 10 and x.max() == 100_000
    lower, upper = st.count_limits(x, confidence)
    _close(lower, [ph.byars_lower(v, confidence) for v in x], "byars lower")
    _close(upper, [ph.byars_upper(v, confidence) for v in x], "byars upper")
    _close(st.byars_lower(x, confidence), lower)
    _close(st.byars_upper(x, confidence), upper)


def _rate_grid() -> tuple[np.ndarray, np.ndarray]:
    counts = np.r_[np.arange(1, 31), 49, 50, 99, 100, 101, 999, 1000, 4567, 10000, 99999, 100000]
    denominators = np.array([1.0, 7.0, 250.0, 1234.5, 10_000.0, 98_765.0, 2_500_000.0])
    x, d = np.meshgrid(counts.astype(float), denominators)
    return x.ravel(), d.ravel()


@pytest.mark.parametrize("multiplier", [1, 1000, 100_000])
def test_rates_match_ph_rate(multiplier):
    x, d = _rate_grid()
    reference = ph.ph_rate(
        pd.DataFrame({"x": x, "d": d}),
        "x",
        "d",
        metadata=False,
        confidence=list(LEVELS),
        multiplier=multiplier,
    )
    for confidence in LEVELS:
        lower, upper = st.rate_limits(x, d, confidence, multiplier)
        ref_lower, ref_upper = _ph_limits(reference, confidence)
        _close(lower, ref_lower, f"lower {confidence}")
        _close(upper, ref_upper, f"upper {confidence}")


def test_pipeline_rates_match_ph_rate():
    x, d = _rate_grid()
    indicator = _indicator("crude_rate")
    m = int(indicator.multiplier)
    reference = ph.ph_rate(
        pd.DataFrame({"x": x, "d": d}),
        "x",
        "d",
        metadata=False,
        confidence=list(LEVELS),
        multiplier=m,
    )
    cells = pl.DataFrame({"row": np.arange(x.size), "numerator": x, "denominator": d})
    ours = compute.summarise(indicator, cells, ["row"], _weights()).sort("row")
    _close(ours["value"], reference["Value"], "value")
    for confidence, suffix in zip(LEVELS, ("95", "998"), strict=True):
        ref_lower, ref_upper = _ph_limits(reference, confidence)
        _close(ours[f"lower{suffix}"], ref_lower, f"lower{suffix}")
        _close(ours[f"upper{suffix}"], ref_upper, f"upper{suffix}")


# ---------------------------------------------------------------------------------------------
# Directly standardised rates
# ---------------------------------------------------------------------------------------------


def test_esp2013_is_phstatsmethods_esp():
    ours = compiler.esp2013().to_pydict()
    theirs = ph.euro_standard_pop()
    assert ours["age_band"] == list(range(BANDS))
    assert ours["weight"] == theirs["euro_standard_pops"].astype(float).tolist()


@pytest.mark.parametrize("confidence", LEVELS)
def test_dobson_limits_match(confidence):
    rng = np.random.default_rng(11)
    o = np.r_[np.arange(0, 40), rng.integers(40, 200_000, 200)].astype(float)
    dsr = rng.uniform(0.0001, 0.2, o.size)
    var = dsr**2 / np.maximum(o, 1) * rng.uniform(0.5, 3, o.size)
    for multiplier in (1, 1000, 100_000):
        lower, upper = st.dobson_limits(o, dsr, var, confidence)
        ref_lower = [
            ph.dobson_lower(v * multiplier, c, s, confidence, multiplier)
            for v, c, s in zip(dsr, o, var, strict=True)
        ]
        ref_upper = [
            ph.dobson_upper(v * multiplier, c, s, confidence, multiplier)
            for v, c, s in zip(dsr, o, var, strict=True)
        ]
        _close(lower * multiplier, ref_lower, f"lower x{multiplier}")
        _close(upper * multiplier, ref_upper, f"upper x{multiplier}")
    assert np.isnan(lower[o < st.DSR_MIN_EVENTS]).all()
    assert not np.isnan(lower[o >= st.DSR_MIN_EVENTS]).any()


def _age_sex_data(seed: int) -> pd.DataFrame:
    """Synthetic areas, 19 age bands x 2 sexes each: small and large counts, zero cells, a
    total of exactly 10 and totals under 10 (0 and 9)."""
    rng = np.random.default_rng(seed)
    rate_by_band = np.geomspace(0.0005, 0.2, BANDS)
    areas = {
        "small": 0.01,
        "large": 1.0,
        "tiny_population": 0.5,
        "zero_cells": 0.05,
        "ten": None,
        "nine": None,
        "none": None,
    }
    rows = []
    for area, scale in areas.items():
        for sex in SEXES:
            for band in range(BANDS):
                small = area == "tiny_population"
                population = int(rng.integers(20, 60) if small else rng.integers(200, 8000))
                count = (
                    0
                    if scale is None
                    else int(rng.poisson(population * scale * rate_by_band[band]))
                )
                rows.append((area, band, sex, count, population))
    frame = pd.DataFrame(rows, columns=["area", "age_band", "sex", "numerator", "denominator"])
    zero = (frame["area"] == "zero_cells") & (frame["age_band"] % 3 != 0)
    frame.loc[zero, "numerator"] = 0
    # Totals of 10 and 9 in a few bands; "none" has no events at all.
    frame.loc[(frame["area"] == "ten") & (frame["age_band"] >= 17), "numerator"] = [3, 2, 2, 3]
    frame.loc[(frame["area"] == "nine") & (frame["age_band"] >= 17), "numerator"] = [3, 2, 2, 2]
    return frame


def _ph_dsr_age_sex(frame: pd.DataFrame) -> pd.DataFrame:
    """ph_dsr with ESP 2013 (PHStatsMethods' own table) for each sex: our standard."""
    esp = ph.euro_standard_pop()
    esp = pd.DataFrame({"age_band": range(BANDS), "esp": esp["euro_standard_pops"]})
    reference = pd.concat([esp.assign(sex=s) for s in SEXES], ignore_index=True)
    return ph.ph_dsr(
        frame,
        "numerator",
        "denominator",
        "esp",
        ["area"],
        metadata=False,
        confidence=list(LEVELS),
        multiplier=int(_indicator("dsr").multiplier),
        euro_standard_pops=False,
        ref_df=reference,
        ref_join_left=["age_band", "sex"],
        ref_join_right=["age_band", "sex"],
    )


def _our_dsr(frame: pd.DataFrame) -> pl.DataFrame:
    cells = pl.from_pandas(frame).with_columns(
        pl.col("age_band").cast(pl.Int8),
        pl.col("numerator").cast(pl.Float64),
        pl.col("denominator").cast(pl.Float64),
    )
    return compute.summarise(_indicator("dsr"), cells, ["area"], _weights())


def _compare_dsr(ours: pl.DataFrame, reference: pd.DataFrame) -> None:
    ours = ours.sort("area")
    reference = reference.sort_values("area").reset_index(drop=True)
    assert ours["area"].to_list() == reference["area"].to_list()
    _close(ours["numerator"], reference["Total Count"], "total count")
    _close(ours["denominator"], reference["Total Pop"], "total population")
    # Our nulls are the reference's NaNs: no value or limit under 10 events.
    _close(ours["value"].fill_null(np.nan), reference["Value"], "dsr")
    for confidence, suffix in zip(LEVELS, ("95", "998"), strict=True):
        ref_lower, ref_upper = _ph_limits(reference, confidence)
        _close(ours[f"lower{suffix}"].fill_null(np.nan), ref_lower, f"lower{suffix}")
        _close(ours[f"upper{suffix}"].fill_null(np.nan), ref_upper, f"upper{suffix}")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dsr_matches_ph_dsr(seed):
    frame = _age_sex_data(seed)
    ours = _our_dsr(frame)
    _compare_dsr(ours, _ph_dsr_age_sex(frame))
    totals = dict(zip(ours["area"], ours["numerator"], strict=True))
    assert totals["ten"] == 10 and totals["nine"] == 9 and totals["none"] == 0
    # Under 10 events there is no DSR: null value and limits in ours (NaN in PHStatsMethods).
    hidden = ours.filter(pl.col("numerator") < st.DSR_MIN_EVENTS)
    assert sorted(hidden["area"]) == ["nine", "none"]
    for column in ["value", "lower95", "upper95", "lower998", "upper998"]:
        assert hidden[column].null_count() == hidden.height, column
        assert ours.filter(pl.col("area") == "ten")[column].null_count() == 0, column


def test_dsr_matches_ph_dsr_builtin_esp_join(capsys):
    # ph_dsr's own ESP join takes 19 age bands per area. Split each band equally between the
    # sexes (same rate in each): the age-sex DSR, its variance and its count are then those of
    # the age-only DSR, so its limits must be equal too.
    frame = _age_sex_data(4)
    by_age = frame.groupby(["area", "age_band"], as_index=False)[["numerator", "denominator"]]
    by_age = by_age.sum()
    by_age["band"] = [
        f"{5 * b}-{5 * b + 4}" if b < BANDS - 1 else "90+" for b in by_age["age_band"]
    ]
    reference = ph.ph_dsr(
        by_age.drop(columns="age_band"),
        "numerator",
        "denominator",
        "band",
        ["area"],
        metadata=False,
        confidence=list(LEVELS),
        multiplier=int(_indicator("dsr").multiplier),
    )
    capsys.readouterr()  # ph_dsr prints its age-band join for the user to check
    halves = pd.concat(
        [
            by_age.assign(
                sex=s, numerator=by_age["numerator"] / 2, denominator=by_age["denominator"] / 2
            )
            for s in SEXES
        ],
        ignore_index=True,
    ).drop(columns="band")
    _compare_dsr(_our_dsr(halves), reference)


# ---------------------------------------------------------------------------------------------
# Random inputs
# ---------------------------------------------------------------------------------------------

confidences = hs.one_of(hs.sampled_from(LEVELS), hs.floats(0.8, 0.999))


@given(
    hs.integers(1, 10_000_000).flatmap(lambda n: hs.tuples(hs.integers(0, n), hs.just(n))),
    confidences,
)
def test_random_proportions(xn, confidence):
    x, n = xn
    lower, upper = st.wilson([x], [n], confidence)
    _close(lower, [ph.wilson_lower(x, n, confidence)], "lower")
    _close(upper, [ph.wilson_upper(x, n, confidence)], "upper")


@given(
    hs.integers(1, 10_000_000),
    hs.floats(0.5, 1e8),
    hs.sampled_from([1, 100, 1000, 100_000]),
    confidences,
)
def test_random_counts_and_rates(x, denominator, multiplier, confidence):
    lower, upper = st.rate_limits([x], [denominator], confidence, multiplier)
    ref_lower = ph.byars_lower(x, confidence) / denominator * multiplier
    ref_upper = ph.byars_upper(x, confidence) / denominator * multiplier
    _close(lower, [ref_lower], "lower")
    _close(upper, [ref_upper], "upper")


strata = hs.lists(
    hs.tuples(hs.integers(0, 400), hs.integers(1, 100_000)), min_size=2 * BANDS, max_size=2 * BANDS
)


@settings(max_examples=40)
@given(strata)
def test_random_dsrs(cells):
    count, population = zip(*cells, strict=True)
    frame = pd.DataFrame(
        {
            "area": "A",
            "age_band": list(range(BANDS)) * 2,
            "sex": [s for s in SEXES for _ in range(BANDS)],
            "numerator": count,
            "denominator": population,
        }
    )
    _compare_dsr(_our_dsr(frame), _ph_dsr_age_sex(frame))
