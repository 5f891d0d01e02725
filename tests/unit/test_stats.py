"""The statistics against published reference values.

Reference values come from PHEindicatormethods (OHID's R package, github.com/ukhsa-collaboration/
PHEindicatormethods, tests/testthat/), copied as numbers:

- ``testdata_funnel_prop_outputs.csv``: proportion funnel limits (95% and 99.8%) around a
  peer value of 80.642448%, at sample sizes 1 to 110,000;
- ``testdata_funnel_prop_inputs.csv``: each area's significance label for that funnel;
- ``testdata_funnel_rate_outputs.csv``: rate funnel limits (dsr per 100,000, 3 years of data)
  as populations at which each count sits on each limit;
- ``testdata_funnel_rate_dsr_inputs.csv``: the significance labels of 40 areas for crude rates
  and for directly standardised rates per 100,000.

Their Wilson, Byar's and Dobson reference values are in Excel workbooks that could not be
retrieved, so those methods are checked against independent characterisations instead (the
Wilson limits solve the score equation; the exact Poisson limits have tail probability alpha/2;
Byar's limits are within 0.2% of exact at 10+ events, as the OHID guide says), plus the DSR
significance labels above, which depend on Byar's and the exact limits.
``test_stats_reference.py`` compares those methods with PHStatsMethods (DHSC's Python
implementation of them) to 1e-6 relative.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import pytest
from scipy import optimize, stats

from wraparound.analytics import stats as st
from wraparound.analytics.indicators.compute import with_ranks

RTOL = 1e-6

# Population, lower 95, upper 95, lower 99.8, upper 99.8 (percent), peer value 80.642448%.
PROPORTION_FUNNEL = [
    (1, 3.204264, 100, 0, 100),
    (2, 25.885383, 100, 0, 100),
    (3, 35.933491, 100, 10.150815, 100),
    (10, 56.154344, 100, 42.03259, 100),
    (18, 62.390093, 98.894803, 51.864359, 100),
    (41, 68.548635, 92.73626, 61.574398, 99.710497),
    (102, 72.974925, 88.309971, 68.553233, 92.731663),
    (1008, 78.203374, 83.081521, 76.796814, 84.488082),
    (9998, 79.867989, 81.416907, 79.421375, 81.863521),
    (47766, 80.288128, 80.996768, 80.083799, 81.201097),
    (110000, 80.408963, 80.875933, 80.274317, 81.010578),
]
PEER_PROPORTION = 0.80642448

# Area numerator, denominator and its label in the same funnel.
PROPORTION_AREAS = [
    (35078.488, 41980, "High (0.001)"),
    (24803.6256, 31824, "Low (0.001)"),
    (50050.7443, 61921, "Not significant"),
    (26789.238, 33012, "High (0.025)"),
    (30277.5312, 37828, "Low (0.025)"),
    (36850.0492, 45449, "High (0.025)"),
    (34502.0685, 42485, "High (0.025)"),
    (23910.2469, 29457, "High (0.025)"),
    (21139.2936, 25992, "High (0.025)"),
    (29709.0543, 36583, "High (0.025)"),
    (18550.7595, 22905, "Not significant"),
    (31573.5024, 39212, "Not significant"),
    (17321.4088, 21587, "Not significant"),
    (16924.1296, 20776, "High (0.025)"),
    (38045.3716, 46958, "High (0.025)"),
    (18504.9982, 22739, "High (0.025)"),
    (15524.9934, 19257, "Not significant"),
    (14493.3552, 17964, "Not significant"),
    (24866.916, 30929, "Not significant"),
    (20759.65, 25750, "Not significant"),
]

# Events; lower 95 population (1 year), limit; upper 95 population, limit; lower 99.8
# population, limit; upper 99.8 population, limit. Peer 116.1720835 per 100,000; 3 years.
RATE_FUNNEL = [
    (
        1,
        1598.675694,
        20.85059119,
        7.264481402,
        4588.535848,
        2649.348525,
        12.58170943,
        0.287087625,
        116108.569,
    ),
    (
        2,
        2072.984403,
        32.15975314,
        69.49732367,
        959.2695538,
        3221.906682,
        20.69168143,
        13.02722321,
        5117.48863,
    ),
    (
        9,
        4902.152951,
        61.19760093,
        1180.827018,
        254.0592274,
        6501.096999,
        46.14605812,
        703.6760012,
        426.3325728,
    ),
    (
        10,
        5276.757672,
        63.17010446,
        1375.943768,
        242.2579623,
        6924.776769,
        48.13632908,
        849.4639547,
        392.4043292,
    ),
    (
        99,
        34583.45945,
        95.42133877,
        23087.10848,
        142.9369123,
        38382.78582,
        85.97604186,
        20393.92315,
        161.8129075,
    ),
    (
        519,
        162297.6124,
        106.5942976,
        136379.1382,
        126.8522461,
        170243.6517,
        101.6190608,
        129531.7435,
        133.5579953,
    ),
    (
        1360,
        411529.9259,
        110.158048,
        369759.5622,
        122.6021934,
        424043.2424,
        106.9073359,
        358342.3275,
        126.5084525,
    ),
]
PEER_RATE = 116.1720835 / 1e5
YEARS = 3

# count, dsr, population, crude rate per 100,000, crude label, dsr label
RATE_AREAS = """count,dsr,pop,crude,crude_label,dsr_label
2419,907.6174266,264102,915.9339952,High (0.001),High (0.001)
2337,948.5620216,259711,899.8463677,High (0.001),High (0.001)
2291,799.9690496,289247,792.056616,High (0.001),High (0.001)
2242,852.5637927,265029,845.9451607,High (0.001),High (0.001)
2218,868.5358183,284649,779.2052668,High (0.001),High (0.001)
2159,769.6242217,293578,735.409329,High (0.001),High (0.001)
2130,752.3254955,286718,742.8902266,High (0.001),High (0.025)
2111,710.2689402,307381,686.7698394,Not significant,Not significant
2105,815.3530325,274145,767.8418355,High (0.001),High (0.001)
2083,717.7035916,297424,700.3469794,High (0.025),Not significant
2078,755.8016993,272628,762.2107781,High (0.001),High (0.001)
2062,825.9742848,269656,764.6779601,High (0.001),High (0.001)
2061,702.2972468,294692,699.3742619,High (0.025),Not significant
2033,785.6210132,277710,732.0586223,High (0.001),High (0.001)
2033,743.6763018,259213,784.2970839,High (0.001),High (0.025)
2010,781.8323058,285516,703.9885681,High (0.025),High (0.001)
2004,772.6781064,269449,743.7400027,High (0.001),High (0.001)
2002,652.3391553,290888,688.2373972,Not significant,Low (0.001)
1977,648.4969973,287112,688.5814595,Not significant,Low (0.001)
1944,727.5777428,286492,678.5529788,Not significant,Not significant
1932,625.6551186,287012,673.1425864,Not significant,Low (0.001)
1922,688.5582424,291277,659.8529922,Not significant,Not significant
1912,662.4465438,289859,659.631062,Not significant,Low (0.025)
1881,627.1624732,289653,649.3977276,Not significant,Low (0.001)
1844,657.1114147,282519,652.6994645,Not significant,Low (0.025)
1835,724.8456714,274220,669.1707388,Not significant,Not significant
1833,659.7820553,280271,654.009869,Not significant,Low (0.025)
1825,654.7053631,284206,642.1398563,Not significant,Low (0.001)
1816,624.4435507,274508,661.5472045,Not significant,Low (0.001)
1809,646.7588823,288384,627.2886152,Low (0.025),Low (0.001)
1798,703.1689982,287072,626.3237097,Low (0.025),Not significant
1754,567.9922764,282744,620.3491498,Low (0.001),Low (0.001)
1746,617.7750715,289208,603.7177395,Low (0.001),Low (0.001)
1709,610.8327232,287736,593.9472294,Low (0.001),Low (0.001)
1694,608.5089462,296175,571.9591458,Low (0.001),Low (0.001)
1688,662.3775859,303255,556.6272609,Low (0.001),Low (0.025)
1649,667.6454503,285959,576.6560941,Low (0.001),Low (0.025)
1553,604.1141693,274661,565.4242867,Low (0.001),Low (0.001)
1332,469.5645784,281425,473.3054988,Low (0.001),Low (0.001)
0,NA,297820,0.0,Low (0.001),Not applicable for events less than 10 for dsrs
"""


def _label(value, l95, u95, l998, u998):
    """PHEindicatormethods' significance label from our limits (status only from limits)."""
    s998 = st.funnel_status(value, l998, u998)
    s95 = st.funnel_status(value, l95, u95)
    names = {"high": "High", "low": "Low"}
    return [
        f"{names[a]} (0.001)"
        if a != "within"
        else f"{names[b]} (0.025)"
        if b != "within"
        else "Not significant"
        for a, b in zip(s998, s95, strict=True)
    ]


def test_z_values_are_1_96_and_3_09():
    assert st.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert st.z_value(0.998) == pytest.approx(3.090232, abs=1e-6)


def test_proportion_funnel_limits_match_reference():
    ref = np.array(PROPORTION_FUNNEL, dtype=float)
    n = ref[:, 0]
    l95, u95 = st.proportion_funnel(n, PEER_PROPORTION, 0.95)
    l998, u998 = st.proportion_funnel(n, PEER_PROPORTION, 0.998)
    got = np.column_stack([l95, u95, l998, u998]) * 100
    # The reference is printed to 6 decimal places: compare to that, and to 1e-6 relative.
    np.testing.assert_allclose(got, ref[:, 1:], rtol=RTOL, atol=5e-7)


def test_proportion_significance_matches_reference_labels():
    x = np.array([r[0] for r in PROPORTION_AREAS])
    n = np.array([r[1] for r in PROPORTION_AREAS], dtype=float)
    limits = [
        *st.proportion_funnel(n, PEER_PROPORTION, 0.95),
        *st.proportion_funnel(n, PEER_PROPORTION, 0.998),
    ]
    assert _label(x / n, *limits) == [r[2] for r in PROPORTION_AREAS]


def test_rate_funnel_limits_match_reference():
    for events, *cols in RATE_FUNNEL:
        pairs = [
            (cols[0], cols[1], 0.95, 0),
            (cols[2], cols[3], 0.95, 1),
            (cols[4], cols[5], 0.998, 0),
            (cols[6], cols[7], 0.998, 1),
        ]
        for population_1_year, limit, confidence, side in pairs:
            population = np.array([population_1_year * YEARS])
            got = st.rate_funnel(population, PEER_RATE, confidence, 1e5)[side][0]
            # PHEindicatormethods finds each population by bisection on v = E / (E + obs + 1),
            # stopping once the step is under 1e-7, which leaves the reference E (and so the
            # limit) uncertain by a few 1e-7 / (v (1 - v)) relative (up to 6e-6 for one event);
            # our limit is solved to machine precision. Most rows agree within 1e-6.
            expected_events = PEER_RATE * population[0]
            v = expected_events / (expected_events + events + 1)
            tolerance = max(RTOL, 3e-7 / (v * (1 - v)))
            assert got == pytest.approx(limit, rel=tolerance), (events, confidence, side)
            # And the limit is the observed count over the population, as drawn.
            assert got == pytest.approx(events / population[0] * 1e5, rel=tolerance)


def _rate_areas():
    return pl.read_csv(io.StringIO(RATE_AREAS), null_values="NA")


def test_crude_rate_significance_matches_reference_labels():
    df = _rate_areas()
    o = df["count"].to_numpy().astype(float)
    rate = df["crude"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(o > 0, o / rate * 1e5, df["pop"].to_numpy())
    peer = o.sum() / d.sum()
    limits = [*st.rate_funnel(d, peer, 0.95, 1e5), *st.rate_funnel(d, peer, 0.998, 1e5)]
    assert _label(o / d * 1e5, *limits) == df["crude_label"].to_list()


def test_dsr_significance_matches_reference_labels():
    # For a DSR the funnel uses the denominator implied by count / rate, and areas with fewer
    # than 10 events have no DSR and so no status.
    df = _rate_areas().filter(pl.col("count") >= st.DSR_MIN_EVENTS)
    o = df["count"].to_numpy().astype(float)
    dsr = df["dsr"].to_numpy()
    d = o / dsr * 1e5
    peer = o.sum() / d.sum()
    limits = [*st.rate_funnel(d, peer, 0.95, 1e5), *st.rate_funnel(d, peer, 0.998, 1e5)]
    assert _label(dsr, *limits) == df["dsr_label"].to_list()


@pytest.mark.parametrize("confidence", st.LEVELS)
@pytest.mark.parametrize(
    ("x", "n"), [(0, 10), (1, 1), (3, 7), (65, 100), (999, 1000), (12345, 67890)]
)
def test_wilson_limits_solve_the_score_equation(x, n, confidence):
    z = st.z_value(confidence)
    lower, upper = (a[0] for a in st.wilson([x], [n], confidence))

    def score(p):
        return (x - n * p) / np.sqrt(n * p * (1 - p))

    expected_lower = (
        0.0 if x == 0 else optimize.brentq(lambda p: score(p) - z, 1e-15, min(x / n, 1 - 1e-15))
    )
    expected_upper = (
        1.0 if x == n else optimize.brentq(lambda p: score(p) + z, max(x / n, 1e-15), 1 - 1e-15)
    )
    assert lower == pytest.approx(expected_lower, rel=RTOL, abs=1e-12)
    assert upper == pytest.approx(expected_upper, rel=RTOL, abs=1e-12)


def test_wilson_is_nan_without_a_denominator():
    lower, upper = st.wilson([0, 1], [0, np.nan])
    assert np.isnan(lower).all() and np.isnan(upper).all()


@pytest.mark.parametrize("confidence", st.LEVELS)
@pytest.mark.parametrize("x", [1, 2, 5, 9])
def test_exact_poisson_limits_have_tail_probability_alpha_over_2(x, confidence):
    alpha = 1 - confidence
    lower, upper = st.count_limits([x], confidence)
    assert stats.poisson.sf(x - 1, lower[0]) == pytest.approx(alpha / 2, rel=RTOL)
    assert stats.poisson.cdf(x, upper[0]) == pytest.approx(alpha / 2, rel=RTOL)


def test_no_events_has_lower_limit_zero_and_exact_upper_limit():
    lower, upper = st.count_limits([0], 0.95)
    assert lower[0] == 0
    assert upper[0] == pytest.approx(-np.log(0.025), rel=RTOL)  # 3.688879...


@pytest.mark.parametrize("x", [10, 11, 50, 1000, 123456])
def test_byars_limits_from_ten_events(x):
    z = st.z_value(0.95)
    lower, upper = st.count_limits([x], 0.95)
    assert lower[0] == pytest.approx(x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3, rel=1e-12)
    assert upper[0] == pytest.approx(
        (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * np.sqrt(x + 1))) ** 3, rel=1e-12
    )
    # OHID: within 0.2% of the exact limits at 10 or more events (95%).
    assert lower[0] == pytest.approx(st.exact_lower([x])[0], rel=2e-3)
    assert upper[0] == pytest.approx(st.exact_upper([x])[0], rel=2e-3)


def test_rate_limits_scale_the_count_limits():
    lower, upper = st.rate_limits([20], [4000.0], 0.95, 1000)
    cl, cu = st.count_limits([20], 0.95)
    assert lower[0] == pytest.approx(cl[0] / 4000 * 1000, rel=1e-12)
    assert upper[0] == pytest.approx(cu[0] / 4000 * 1000, rel=1e-12)
    assert np.isnan(st.rate_limits([1], [0.0])[0][0])


def test_dobson_limits_hand_worked():
    # Two strata: 30 events in 1,000 people (weight 6,000) and 20 in 4,000 (weight 4,000).
    x, n, w = np.array([30.0, 20.0]), np.array([1000.0, 4000.0]), np.array([6000.0, 4000.0])
    dsr = (w * x / n).sum() / w.sum()
    var = (w**2 * x / n**2).sum() / w.sum() ** 2
    assert dsr == pytest.approx(0.02)
    lower, upper = st.dobson_limits([50], [dsr], [var], 0.95)
    o = 50
    z = st.z_value(0.95)
    byar_l = o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3
    byar_u = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    assert lower[0] == pytest.approx(dsr + np.sqrt(var / o) * (byar_l - o), rel=1e-12)
    assert upper[0] == pytest.approx(dsr + np.sqrt(var / o) * (byar_u - o), rel=1e-12)
    # With one stratum the DSR interval is the crude rate interval.
    one_l, one_u = st.dobson_limits([50], [0.05], [50 / 1000**2], 0.95)
    crude_l, crude_u = st.rate_limits([50], [1000.0], 0.95)
    assert one_l[0] == pytest.approx(crude_l[0], rel=1e-12)
    assert one_u[0] == pytest.approx(crude_u[0], rel=1e-12)


def test_dsr_not_shown_under_ten_events():
    lower, upper = st.dobson_limits([9, 10], [0.01, 0.01], [1e-6, 1e-6])
    assert np.isnan(lower[0]) and np.isnan(upper[0])
    assert not np.isnan(lower[1])


def test_funnel_status_only_from_limits():
    status = st.funnel_status(
        [0.1, 0.5, 0.9, np.nan, 0.5], [0.2, 0.2, 0.2, 0.2, np.nan], [0.8, 0.8, 0.8, 0.8, 0.8]
    )
    assert status.tolist() == ["low", "within", "high", None, None]


def test_small_practice_at_the_extreme_is_within_its_wide_limits():
    # 0 of 5 is the lowest of the practices, but 5 is too few to be an outlier at 99.8%.
    n = np.array([5.0, 1000, 1000, 1000])
    x = np.array([0.0, 600, 620, 640])
    peer = x.sum() / n.sum()
    lower, upper = st.proportion_funnel(n, peer, 0.998)
    assert st.funnel_status(x / n, lower, upper)[0] == "within"
    assert st.percentile_ranks(x / n)[0] == 0


def test_deciles_follow_phe_quantile():
    values = np.arange(1, 21, dtype=float)  # 20 areas: two per decile
    assert st.deciles(values).tolist() == [float(d) for d in np.repeat(np.arange(1, 11), 2)]
    assert np.isnan(st.deciles(np.arange(9.0))).all()  # fewer than 10 areas: none
    with_gap = np.append(values, np.nan)
    assert np.isnan(st.deciles(with_gap)[-1])


def test_percentile_ranks():
    assert st.percentile_ranks([3.0, 1.0, 2.0, 2.0]).tolist() == pytest.approx(
        [100, 0, 100 / 3, 100 / 3]
    )
    assert np.isnan(st.percentile_ranks([1.0])).all()


def test_pipeline_ranks_equal_the_reference_functions():
    # The pipeline ranks thousands of groups with Polars expressions; they must be these.
    rng = np.random.default_rng(1)
    values = rng.integers(0, 30, size=57).astype(float)
    values[3] = np.nan
    df = pl.DataFrame({"g": [1] * 57, "value": values}).with_columns(pl.col("value").fill_nan(None))
    ranked = with_ranks(df, ["g"])
    np.testing.assert_array_equal(ranked["decile"].to_numpy().astype(float), st.deciles(values))
    np.testing.assert_allclose(
        ranked["percentile_rank"].to_numpy().astype(float), st.percentile_ranks(values), rtol=1e-12
    )


def test_rate_funnel_counts_solve_the_gamma_equation_and_a_zero_peer_rate_gives_zero():
    """The limits' counts c solve P(c + 1, E) = 1 - alpha/2 (lower) and P(c, E) = alpha/2
    (upper), for E from a fraction of an event to tens of thousands; with a peer rate of 0
    no events are expected and both limits are 0, so a practice with none is within them."""
    from scipy import special

    expected = np.array([0.5, 3.0, 7.5, 40.0, 333.3, 2_500.0, 48_000.0])
    for confidence in (0.95, 0.998):
        alpha = 1 - confidence
        low, high = st.rate_funnel(expected, 1.0, confidence)  # rates: counts / E
        low, high = low * expected, high * expected
        assert special.gammainc(high, expected) == pytest.approx(alpha / 2, rel=1e-9)
        solved = expected > -np.log(alpha / 2)  # below that, even no events are not low
        assert (low[~solved] == 0).all()
        assert special.gammainc(low[solved] + 1, expected[solved]) == pytest.approx(
            1 - alpha / 2, rel=1e-9
        )
    low, high = st.rate_funnel(np.array([500.0, 0.0]), 0.0, 0.95)
    assert (low[0], high[0]) == (0.0, 0.0)
    assert st.funnel_status([0.0], low[:1], high[:1]).tolist() == ["within"]
