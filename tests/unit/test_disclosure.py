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
