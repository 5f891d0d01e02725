"""Risk registers per practice, neighbourhood and locality, and who entered, left or stayed
since the previous refresh.

A register is the list a team works from: the highest-risk patients of its unit, each with
score, risk band, stream, eFI category and the reasons behind the score. The size rule
(top x% of the unit, or top N) comes from ``data/streams.toml``. Registers are for direct
care, so opted-out patients are on them; only published aggregates leave them out.
"""

from __future__ import annotations

import polars as pl

from wraparound import vocabulary
from wraparound.analytics.streams import Rules

LEVELS = {"practice": "practice_id", "neighbourhood": "neighbourhood_id", "locality": None}
COLUMNS = list(vocabulary.REGISTER_COLUMNS)
KEY = list(vocabulary.REGISTER_KEY)


def _units(scores: pl.DataFrame, rules: Rules, locality_id: str):
    """Each level's register rows: ``scores`` ranked within each unit and cut at the rule's
    size, with ``level``, ``unit_id``, ``unit_rank`` and ``unit_size`` added."""
    for level, column in LEVELS.items():
        unit = pl.col(column) if column else pl.lit(locality_id)
        ranked = scores.with_columns(level=pl.lit(level), unit_id=unit).filter(
            pl.col("unit_id").is_not_null()
        )
        ranked = ranked.sort(["score", "patient_id"], descending=[True, False]).with_columns(
            unit_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("unit_id"),
            unit_size=pl.len().over("unit_id"),
        )
        if rules.register_top_n is not None:
            size = pl.lit(rules.register_top_n)
        else:
            # top_k, as a column expression: ceil(n * x / 100), at least one.
            size = (
                (pl.col("unit_size") * rules.register_top_percent / 100 - 1e-9)
                .ceil()
                .clip(lower_bound=1)
            )
        yield ranked.filter(pl.col("unit_rank") <= size)


def build(scores: pl.DataFrame, rules: Rules, locality_id: str) -> pl.DataFrame:
    """The registers of every practice, neighbourhood and the locality, one row per patient
    per register."""
    parts = [part.select(COLUMNS) for part in _units(scores, rules, locality_id)]
    return pl.concat(parts).sort(["level", "unit_id", "unit_rank"])


def members(scores: pl.DataFrame, rules: Rules, locality_id: str) -> pl.Series:
    """The patient ids on at least one register that ``build`` would make from ``scores``
    (which need only patient_id, score and the unit columns)."""
    keep = ["patient_id", "score", *(c for c in LEVELS.values() if c)]
    ids = [part["patient_id"] for part in _units(scores.select(keep), rules, locality_id)]
    return pl.concat(ids).unique()


def changes(current: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """``entered``, ``left`` or ``stayed`` for everyone on a register now or at the previous
    refresh (everyone has ``entered`` at the first refresh), with both scores."""
    now = current.select(*KEY, score_now=pl.col("score"))
    if previous is None:
        previous = now.head(0).rename({"score_now": "score_before"})
    else:
        previous = previous.select(*KEY, score_before=pl.col("score"))
    joined = now.join(previous, on=KEY, how="full", coalesce=True)
    change = (
        pl.when(pl.col("score_before").is_null())
        .then(pl.lit("entered"))
        .when(pl.col("score_now").is_null())
        .then(pl.lit("left"))
        .otherwise(pl.lit("stayed"))
    )
    return (
        joined.with_columns(change=change)
        .select(*KEY, "change", "score_now", "score_before")
        .sort(KEY)
    )
