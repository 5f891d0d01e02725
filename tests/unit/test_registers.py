"""Registers per practice, neighbourhood and locality, and the changes between refreshes."""

from __future__ import annotations

import polars as pl

from wraparound.analytics import registers
from wraparound.analytics.streams import load_rules


def scored(values: dict[str, float]) -> pl.DataFrame:
    ids = sorted(values)
    return pl.DataFrame(
        {
            "patient_id": ids,
            "practice_id": ["P1" if int(p[1:]) % 2 else "P2" for p in ids],
            "neighbourhood_id": ["N1"] * len(ids),
            "score": [values[p] for p in ids],
            "risk_band": ["x"] * len(ids),
            "stream": ["y"] * len(ids),
            "efi_category": [None] * len(ids),
            "reasons": [["aged 80"]] * len(ids),
        }
    )


def test_top_percent_of_each_unit():
    rules = load_rules()  # top 2%
    values = {f"p{i:03d}": i / 200 for i in range(200)}
    regs = registers.build(scored(values), rules, "LOC")
    sizes = dict(regs.group_by("level").len().iter_rows())
    assert sizes == {"practice": 4, "neighbourhood": 4, "locality": 4}
    practice = regs.filter(pl.col("level") == "practice")
    # P1 holds the odd-numbered patients: its top 2% of 100 are p199 and p197.
    p1 = practice.filter(pl.col("unit_id") == "P1").sort("unit_rank")
    assert p1["patient_id"].to_list() == ["p199", "p197"]


def test_entered_left_and_stayed_across_two_refreshes():
    rules = load_rules()
    first = registers.build(scored({f"p{i:03d}": i / 200 for i in range(200)}), rules, "LOC")
    # p199 falls to the bottom; p195 (not on any register before) rises to the top.
    second_values = {f"p{i:03d}": i / 200 for i in range(200)} | {"p199": 0.0, "p195": 2.0}
    second = registers.build(scored(second_values), rules, "LOC")
    first_changes = registers.changes(first, None)
    assert set(first_changes["change"]) == {"entered"}
    got = registers.changes(second, first)
    locality = {
        r["patient_id"]: r["change"]
        for r in got.filter(pl.col("level") == "locality").iter_rows(named=True)
    }
    assert locality == {
        "p199": "left",
        "p195": "entered",
        "p198": "stayed",
        "p197": "stayed",
        "p196": "stayed",
    }
    left = got.filter((pl.col("patient_id") == "p199") & (pl.col("level") == "locality"))
    assert left["score_now"].to_list() == [None] and left["score_before"].to_list() == [0.995]
