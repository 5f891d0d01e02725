"""The local QOF claims export: one row per practice and scheme line, as a documented CSV
(``docs/commissioning.md`` describes every column). The command (``wraparound local-qof
--claims``) and the app's download write the same columns and the same cell strings."""

from __future__ import annotations

import csv
import io
import math

import polars as pl

from wraparound.analytics.indicators import periods as months

COLUMNS = (
    "scheme_id",
    "scheme_version",
    "scheme_year",
    "practice_id",
    "indicator_code",
    "indicator_id",
    "as_of",
    "final",
    "numerator",
    "denominator",
    "exceptions",
    "achievement_pct",
    "lower_pct",
    "upper_pct",
    "max_points",
    "points",
    "list_size",
    "cpi",
    "prevalence_pct",
    "apf",
    "pounds_per_point",
    "payment_gbp",
    "projected_achievement_pct",
    "projected_points",
    "projected_payment_gbp",
)


def _fixed(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def row(r: dict, scheme_id: str, version: int, year: str) -> list[str]:
    """One claims row as text, from a row of the year table (``achievement.Result.year``)."""
    return [
        scheme_id,
        str(version),
        year,
        r["practice_id"],
        r["code"],
        r["indicator_id"],
        months.label(r["period"]),
        "yes" if r["final"] else "no",
        _fixed(r["numerator"], 0),
        _fixed(r["denominator"], 0),
        _fixed(r["exceptions"], 0),
        _fixed(r["achievement"], 2),
        _fixed(r["lower"], 1),
        _fixed(r["upper"], 1),
        _fixed(r["max_points"], 2),
        _fixed(r["points"], 2),
        _fixed(r["list_size"], 0),
        _fixed(r["cpi"], 4),
        _fixed(r["prevalence"], 3),
        _fixed(r["apf"], 4),
        _fixed(r["pounds_per_point"], 2),
        _fixed(r["payment"], 2),
        _fixed(r["projected_achievement"], 2),
        _fixed(r["projected_points"], 2),
        _fixed(r["projected_payment"], 2),
    ]


def rows(year: pl.DataFrame, scheme_id: str, version: int, label: str) -> list[list[str]]:
    ordered = year.sort(["practice_id", "code"])
    return [row(r, scheme_id, version, label) for r in ordered.iter_rows(named=True)]


def to_csv(table: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table)
    return out.getvalue()
