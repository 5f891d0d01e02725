"""Registers per practice, neighbourhood and locality, and the changes between refreshes;
and on a feature table from every engine, the registers worked by hand (``scored_cases``)."""

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


def test_registers_from_the_engines_feature_table(hand_scored):
    """Units come from the engine: practice from the registration, neighbourhood from the
    organisation table. Top 2% of a unit is its first patient; s11's practice P3 is in no
    neighbourhood, so s11 heads P3's register and is on no neighbourhood's."""
    regs = registers.build(hand_scored, load_rules(), "LOC")
    got = {
        (r["level"], r["unit_id"]): r["patient_id"]
        for r in regs.iter_rows(named=True)
        if r["unit_rank"] == 1
    }
    assert got == {
        ("practice", "P1"): "s01",
        ("practice", "P2"): "s02",
        ("practice", "P3"): "s11",
        ("neighbourhood", "N1"): "s01",
        ("locality", "LOC"): "s01",
    }
    assert regs.height == 5
    s02 = regs.filter(pl.col("patient_id") == "s02").row(0, named=True)
    assert (s02["stream"], s02["efi_category"], s02["score"]) == ("high_needs", "severe", 0.8)
