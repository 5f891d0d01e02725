"""Statistical disclosure control for published figures.

The rule (NHS England's, as Wraparound states it next to every published figure): counts of
1 to 7 are suppressed, and so is everything derived from them (the value and its interval);
every other count is rounded to the nearest 5. Zero is shown: it reveals nothing about a
person. Values and intervals are calculated from the unrounded counts before rounding, so
rounding changes no published rate. Opted-out patients are already absent from every count
(the indicator pipeline never lets them in); this step is the last one before publication.
"""

from __future__ import annotations

import polars as pl

SUPPRESS_MIN = 1
SUPPRESS_MAX = 7
ROUND_TO = 5

RULE = (
    "Counts of 1 to 7 are suppressed (marked “suppressed”), and so is anything "
    "calculated from them; all other counts are rounded to the nearest 5. Rates and "
    "percentages are calculated before rounding. Patients who have opted out of sharing "
    "their data for planning and research (the national data opt-out) are not counted."
)


def round_count(value: pl.Expr) -> pl.Expr:
    """To the nearest multiple of 5, halves rounded up (2.5 people -> 5)."""
    return (value / ROUND_TO + 0.5).floor() * ROUND_TO


def disclose(df: pl.DataFrame, counts: list[str], derived: list[str]) -> pl.DataFrame:
    """Apply the rule row by row: a row with any count in 1-7 loses those counts and every
    ``derived`` column; other counts are rounded. Adds ``suppressed`` (bool)."""
    small = pl.lit(False)
    for column in counts:
        value = pl.col(column)
        small = small | (value.is_not_null() & (value >= SUPPRESS_MIN) & (value < SUPPRESS_MAX + 1))
    df = df.with_columns(suppressed=small)
    hidden = pl.col("suppressed")
    return df.with_columns(
        *[pl.when(hidden).then(None).otherwise(round_count(pl.col(c))).alias(c) for c in counts],
        *[pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in derived],
    )
