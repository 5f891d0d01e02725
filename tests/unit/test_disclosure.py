"""Disclosure control: 1-7 suppressed with everything derived from them, others to the
nearest 5, zero shown."""

from __future__ import annotations

import polars as pl

from wraparound.analytics import disclosure


def test_rule():
    df = pl.DataFrame(
        {
            "numerator": [0.0, 1, 7, 8, 12, 13, 250],
            "denominator": [100.0, 100, 100, 100, 102, 3, 1000],
            "value": [0.0, 1, 7, 8, 11.76, 433.3, 25.0],
        }
    )
    out = disclosure.disclose(df, ["numerator", "denominator"], ["value"])
    assert out["suppressed"].to_list() == [False, True, True, False, False, True, False]
    assert out["numerator"].to_list() == [0, None, None, 10, 10, None, 250]
    assert out["denominator"].to_list() == [100, None, None, 100, 100, None, 1000]
    # Values come from the unrounded counts and are kept unless suppressed.
    assert out["value"].to_list() == [0.0, None, None, 8, 11.76, None, 25.0]


def test_halves_round_up_and_nulls_stay_null():
    df = pl.DataFrame({"n": [12.5, 17.4, None], "v": [1.0, 2.0, 3.0]})
    out = disclosure.disclose(df, ["n"], ["v"])
    assert out["n"].to_list() == [15, 15, None]
    assert out["v"].to_list() == [1.0, 2.0, 3.0]


def test_rule_text_states_the_rule():
    assert "1 to 7" in disclosure.RULE and "nearest 5" in disclosure.RULE
    assert "opted out" in disclosure.RULE


# ---------------------------------------------------------------------------------------------
# Rule 3: every published figure from the rounded counts (property tests over the real
# level builder, three practices in two neighbourhoods, two months a year apart)
# ---------------------------------------------------------------------------------------------

import math  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wraparound.analytics import stats  # noqa: E402
from wraparound.analytics.indicators import compute, definition, levels  # noqa: E402

LIBRARY = {i.id: i for i in definition.load()}
ORGS = compute.Orgs(neighbourhood_of={"P1": "N1", "P2": "N1", "P3": "N2"}, locality_id="L")
PRACTICES = ("P1", "P2", "P3")
MONTHS = (2024 * 12, 2025 * 12)


def _cells(counts: list[tuple[int, float]]) -> pl.DataFrame:
    """Cells for the level builder: (numerator, denominator) per month and practice."""
    rows = []
    for i, (num, den) in enumerate(counts):
        rows.append(
            {
                "period": MONTHS[i // 3],
                "practice_id": PRACTICES[i % 3],
                "imd_quintile": 1,
                "clinician": None,
                "subgroup": "all",
                "age_band": None,
                "sex": None,
                "measure_value": None,
                "numerator": float(num),
                "denominator": float(den),
            }
        )
    schema = {
        "period": pl.Int32,
        "practice_id": pl.String,
        "imd_quintile": pl.Int8,
        "clinician": pl.String,
        "subgroup": pl.String,
        "age_band": pl.Int8,
        "sex": pl.String,
        "measure_value": pl.Int32,
        "numerator": pl.Float64,
        "denominator": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def _published(indicator_id: str, counts) -> pl.DataFrame:
    indicator = LIBRARY[indicator_id]
    values = levels.indicator_values(indicator, _cells(counts), ORGS, None)
    return disclosure.publish_values(values, (indicator,)).sort("period", "level", "org_id")


def _shown(x: float) -> tuple:
    """A count as the rule publishes it: suppressed, zero or rounded."""
    if 1 <= x <= 7:
        return ("suppressed",)
    return (math.floor(x / 5 + 0.5) * 5,)


PAIRS = st.integers(0, 60).flatmap(lambda d: st.tuples(st.integers(0, d), st.just(d)))
WORLDS = st.lists(PAIRS, min_size=6, max_size=6)
DERIVED = [*disclosure.DERIVED, "peer_value"]


@given(WORLDS)
def test_published_values_are_calculated_from_the_rounded_counts(counts):
    out = _published("af_anticoagulated", counts)
    shown = out.filter(~pl.col("suppressed"))
    for column in ("numerator", "denominator"):
        assert (shown[column] % 5 == 0).all()
        assert not shown[column].is_between(1, 7).any()
    x, n = shown["numerator"].to_numpy(), shown["denominator"].to_numpy()
    lo, hi = stats.wilson(x, n, 0.95)
    for row, a, b in zip(shown.iter_rows(named=True), lo, hi, strict=True):
        if row["denominator"] == 0:
            assert row["value"] is None
            continue
        assert math.isclose(row["value"], 100 * row["numerator"] / row["denominator"])
        assert math.isclose(row["lower95"], 100 * a) and math.isclose(row["upper95"], 100 * b)
    hidden = out.filter(pl.col("suppressed"))
    for column in ("numerator", "denominator", *DERIVED):
        assert hidden[column].null_count() == hidden.height, column


# The same (numerator <= denominator <= 60) worlds as the ordered pair of two draws: a
# ``flatmap`` costs Hypothesis ~5-10 ms an example, and the test below throws away ~15 worlds
# for each it keeps. (The tests that keep every world keep PAIRS' distribution: these pairs,
# larger on average, make their secondary suppression slower.)
CHEAP_WORLDS = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 60)).map(sorted).map(tuple),
    min_size=6,
    max_size=6,
)
# Shifts of -2..2 a cell, at least one cell moved and most often few: a world whose every
# count moves keeps all its rounding about once in 150 draws, one with a few cells moved
# about once in 20 (Hypothesis's time went on the worlds the assume() below throws away).
SHIFTS = st.tuples(
    st.lists(st.sampled_from((0, 0, 0, 0, -1, 1, -2, 2)), min_size=6, max_size=6),
    st.integers(0, 5),
    st.sampled_from((-1, 1, -2, 2)),
).map(lambda t: [t[2] if i == t[1] else s for i, s in enumerate(t[0])])


# The filtering is the point (most shifted worlds round differently somewhere) and the first
# few draws, all near zero, are the ones that fail most: without this Hypothesis may stop
# the test before it has tried the worlds that keep their rounding.
@settings(suppress_health_check=[HealthCheck.filter_too_much])
@given(CHEAP_WORLDS, SHIFTS, st.booleans())
def test_true_counts_with_the_same_rounding_publish_the_same_figures(counts, shifts, rate):
    """Two localities whose every published count (practice, neighbourhood, locality) rounds
    and suppresses alike publish identical tables: nothing beyond the rounded counts leaks,
    not the value, interval, peer, funnel, status, rank or trend."""
    other = [(max(0, min(d + s, n + s)), d + s) for (n, d), s in zip(counts, shifts, strict=True)]
    assume(all(d >= 0 for _, d in other))

    def every_level(world):
        shown = []
        for month in (0, 1):
            part = world[month * 3 : month * 3 + 3]
            for group in ([0], [1], [2], [0, 1], [2], [0, 1, 2]):
                shown.append(tuple(_shown(sum(part[i][k] for i in group)) for k in (0, 1)))
        return shown

    assume(every_level(counts) == every_level(other))
    indicator = "ae_attendances_rate" if rate else "af_anticoagulated"
    first, second = _published(indicator, counts), _published(indicator, other)
    columns = ["suppressed", "numerator", "denominator", *DERIVED]
    assert first.select(columns).equals(second.select(columns))


@given(WORLDS)
def test_no_published_count_can_be_pinned_by_differencing(counts):
    """After secondary suppression no count, suppressed or shown (other than zero, which the
    rule shows), is pinned to one value by the totals (``count_bounds``)."""
    out = _published("af_anticoagulated", counts)
    for _, group in out.group_by(["period"]):
        rows = group.to_dicts()
        for column in ("numerator", "denominator"):
            bounds = disclosure.count_bounds(rows, column, real=False)
            for r in rows:
                lo, hi = bounds[r["org_id"]]
                if r["suppressed"] or r[column] not in (None, 0):
                    assert hi > lo or hi == 0, (column, r["org_id"], rows)


def test_an_age_standardised_rate_is_not_published():
    indicator = next(i for i in LIBRARY.values() if i.type == "dsr")
    frame = pl.DataFrame(
        {
            "indicator_id": [indicator.id],
            "period": ["2025-01"],
            "subgroup": ["all"],
            "level": ["locality"],
            "org_id": ["L"],
            "parent_id": [None],
            "numerator": [120.0],
            "denominator": [4000.0],
            **{c: [1.0] for c in ("value", "lower95", "upper95", "lower998", "upper998")},
            **{c: [1.0] for c in ("peer_value", "funnel_lower95", "funnel_upper95")},
            **{c: [1.0] for c in ("funnel_lower998", "funnel_upper998", "change_12m")},
            "percentile_rank": [1.0],
            "decile": pl.Series([1], dtype=pl.Int8),
            **{c: ["x"] for c in ("funnel_status", "funnel_status95", "assessment", "trend")},
        },
        schema_overrides={"parent_id": pl.String},
    )
    out = disclosure.publish_values(frame, (indicator,))
    assert out["numerator"].to_list() == [120] and out["denominator"].to_list() == [4000]
    for column in DERIVED:
        assert out[column].to_list() == [None], column


# ---------------------------------------------------------------------------------------------
# The reconstruction attack (tests/reconstruction.py) over random localities: five practices
# in three neighbourhoods (two, two and one), one month, a proportion or a crude rate
# ---------------------------------------------------------------------------------------------

from reconstruction import Published, attack  # noqa: E402

FIVE = compute.Orgs(
    neighbourhood_of={"P1": "N1", "P2": "N1", "P3": "N2", "P4": "N2", "P5": "N3"},
    locality_id="L",
)
SMALLISH = st.integers(0, 40).flatmap(lambda d: st.tuples(st.integers(0, d), st.just(d)))


def _five_cells(counts) -> pl.DataFrame:
    """One month of cells for the five practices (the second month of ``_cells`` dropped)."""
    practices = list(FIVE.neighbourhood_of)
    frame = _cells([*counts[:3], (0, 0), (0, 0), (0, 0)]).filter(pl.col("period") == MONTHS[0])
    extra = _cells([*counts[3:], (0, 0), (0, 0), (0, 0), (0, 0)]).filter(
        (pl.col("period") == MONTHS[0]) & pl.col("practice_id").is_in(["P1", "P2"])
    )
    extra = extra.with_columns(practice_id=pl.col("practice_id").replace({"P1": "P4", "P2": "P5"}))
    out = pl.concat([frame, extra])
    assert sorted(out["practice_id"]) == practices
    return out


@settings(max_examples=300)
@given(st.lists(SMALLISH, min_size=5, max_size=5), st.booleans())
def test_the_attack_recovers_nothing_from_random_localities(counts, rate):
    indicator = LIBRARY["ae_attendances_rate" if rate else "af_anticoagulated"]
    values = levels.indicator_values(indicator, _five_cells(counts), FIVE, None)
    out = disclosure.publish_values(values, (indicator,))
    rows = [
        Published(
            key=(r["indicator_id"], r["period"], r["subgroup"]),
            level=r["level"],
            org_id=r["org_id"],
            parent_id=r["parent_id"],
            kind=indicator.type,
            multiplier=indicator.multiplier,
            numerator=r["numerator"],
            denominator=r["denominator"],
            suppressed=r["suppressed"],
            value=r["value"],
            interval=None if r["lower95"] is None else (r["lower95"], r["upper95"]),
        )
        for r in out.iter_rows(named=True)
    ]
    found = attack(rows)
    assert not found.small_recovered, found.small_recovered
    assert not found.counts_recovered, found.counts_recovered
    assert not found.pairs_unique, found.pairs_unique


def _quintile_part(org: str, level: str, q: int, shown: tuple | None) -> dict:
    """One row of ``_secondary_with_values``'s joint group: a quintile of ``org``, part of
    ``org``'s row and, for a neighbourhood, of the locality's quintile."""
    n, d = shown if shown else (None, None)
    return {
        "level": level,
        "org_id": f"{org}/q{q}",
        "parent_id": org,
        "breakdown": "imd",
        "also_part_of": [f"L/q{q}"] if level == "neighbourhood" else [],
        "suppressed": shown is None,
        "numerator": n,
        "denominator": d,
    }


def test_a_quintile_hidden_alone_among_neighbourhoods_is_covered():
    """The published inequalities table on its own (as the attack reads it): locality 35/35
    in quintile 3, two neighbourhoods 15/20 and 20/20 shown, the third hidden leaves it a
    denominator of 0 or 1, and as the only neighbourhood hidden in that quintile it looks
    like a primary suppression (1-7): 1. Jointly with the values its siblings are its own
    other quintiles (q2 hidden too), so the joint check alone missed it (ckd_egfr_recorded,
    2025-03, neighbourhood U90003 of the attack world)."""
    rows = [
        _quintile_part("L", "locality", 2, (30.0, 35.0)),
        _quintile_part("N1", "neighbourhood", 2, (20.0, 20.0)),
        _quintile_part("N2", "neighbourhood", 2, (10.0, 10.0)),
        _quintile_part("N3", "neighbourhood", 2, None),
        _quintile_part("L", "locality", 3, (35.0, 35.0)),
        _quintile_part("N1", "neighbourhood", 3, (15.0, 20.0)),
        _quintile_part("N2", "neighbourhood", 3, (20.0, 20.0)),
        _quintile_part("N3", "neighbourhood", 3, None),
    ]
    assert disclosure._leaks(rows, "proportion") == []
    assert disclosure._joint_and_alone_leaks(rows, "proportion") == ["N3/q3"]
    hidden = 0
    while disclosure._joint_and_alone_leaks(rows, "proportion"):
        target = disclosure._next_to_hide(rows, "proportion", disclosure._joint_and_alone_leaks)
        assert target is not None
        rows, hidden = disclosure._hidden(rows, target), hidden + 1
    assert hidden >= 1
    alone = [
        Published(
            key=("i", "2025-03", r["org_id"].split("/")[1]),
            level=r["level"],
            org_id=r["org_id"],
            parent_id=r["also_part_of"][0] if r["also_part_of"] else None,
            kind="proportion",
            multiplier=100.0,
            numerator=r["numerator"],
            denominator=r["denominator"],
            suppressed=r["suppressed"],
        )
        for r in rows
    ]
    found = attack(alone)
    assert not found.small_recovered and not found.counts_recovered, found


def _every_candidate(rows: list[dict], kind: str) -> str | None:
    """Rule 4's choice by its definition: try every shown row, keep the least leaky (then
    practice before neighbourhood before locality, smallest denominator, lowest id)."""
    keys = [
        (
            len(disclosure._leaks(disclosure._hidden(rows, r["org_id"]), kind)),
            disclosure.LEVEL_ORDER.get(r["level"], 3),
            r["denominator"] or 0,
            r["org_id"],
        )
        for r in rows
        if not r["suppressed"]
    ]
    return min(keys)[3] if keys else None


PRACTICE_OF = {"P0": "N1", "P1": "N1", "P2": "N1", "P3": "N2", "P4": "N2"}


@given(st.lists(PAIRS, min_size=5, max_size=5), st.lists(st.booleans(), min_size=8, max_size=8))
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
def test_the_search_stops_early_on_the_answer_trying_every_row_gives(practices, extra):
    """``_next_to_hide`` tries rows in tie-break order and stops at the first that leaves
    nothing pinned; that must be the row the exhaustive definition picks. Practices' counts
    add up to their neighbourhoods' and the locality's; a row is hidden when a count is 1-7
    (the primary rule) or, now and then, as if an earlier step had hidden it."""
    counts = dict(zip(PRACTICE_OF, practices, strict=True))
    for hood in ("N1", "N2"):
        parts = [counts[p] for p, h in PRACTICE_OF.items() if h == hood]
        counts[hood] = (sum(n for n, _ in parts), sum(d for _, d in parts))
    counts["L"] = (counts["N1"][0] + counts["N2"][0], counts["N1"][1] + counts["N2"][1])
    parent = {**PRACTICE_OF, "N1": "L", "N2": "L", "L": None}
    level = {"L": "locality", "N1": "neighbourhood", "N2": "neighbourhood"}
    rows = []
    for (org, (n, d)), also in zip(counts.items(), extra, strict=True):
        hide = any(1 <= x <= 7 for x in (n, d)) or (also and d % 3 == 0)
        rows.append(
            {
                "level": level.get(org, "practice"),
                "org_id": org,
                "parent_id": parent[org],
                "suppressed": hide,
                "numerator": None if hide else float(n),
                "denominator": None if hide else float(d),
            }
        )
    for kind in ("proportion", "crude_rate"):
        assert disclosure._next_to_hide(rows, kind) == _every_candidate(rows, kind)


@given(
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
    st.booleans(),
    st.booleans(),
)
def test_the_pairs_extremes_are_those_of_every_pair_listed(lo, width, y_lo, y_width, prop, small):
    """``_pairs`` walks the numerators once; listing every (numerator, denominator) pair, as
    the definition reads, must give the same least and greatest of each."""
    ys = (y_lo, y_lo + y_width)
    pairs = [
        (x, y)
        for x in range(lo, lo + width + 1)
        for y in range(ys[0], ys[1] + 1)
        if (not prop or x <= y) and (not small or 1 <= x <= 7 or 1 <= y <= 7)
    ]
    expected = None
    if pairs:
        xs, dens = [x for x, _ in pairs], [y for _, y in pairs]
        expected = ((min(xs), max(xs)), (min(dens), max(dens)))
    assert disclosure._pairs(lo, lo + width, ys, prop, small) == expected
