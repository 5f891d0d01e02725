"""Streams and risk bands follow the rules file, so a commissioner's edit changes who is in
which stream without any code change; and on a feature table from every engine, each
patient lands in the stream worked by hand (``scored_cases``)."""

from __future__ import annotations

from importlib.resources import files

import polars as pl
import pytest

from wraparound.analytics.streams import RulesError, assign, load_rules


def scores(n: int = 100) -> pl.DataFrame:
    # Patient i has score (n - i) / n: p000 is the highest.
    return pl.DataFrame(
        {
            "patient_id": [f"p{i:03d}" for i in range(n)],
            "score": [(n - i) / n for i in range(n)],
            "efi_category": [
                "severe" if i == 50 else ("moderate" if i == 60 else None) for i in range(n)
            ],
            "n_ltc": [3 if i == 70 else 0 for i in range(n)],
            "ltc_palliative_care": [1 if i == 80 else 0 for i in range(n)],
        }
    )


def stream_of(df: pl.DataFrame) -> dict[str, str]:
    return dict(df.select("patient_id", "stream").iter_rows())


def test_packaged_rules_assign_streams_and_bands():
    got = assign(scores(), load_rules())
    streams = stream_of(got)
    assert [streams[f"p{i:03d}"] for i in (0, 1, 2)] == ["high_needs"] * 2 + ["intermediate"]
    assert streams["p050"] == "high_needs"  # severe frailty
    assert streams["p080"] == "high_needs"  # palliative care register
    assert streams["p060"] == "intermediate"  # moderate frailty
    assert streams["p070"] == "intermediate"  # 3 long-term conditions
    assert streams["p099"] == "less_complex"
    bands = dict(got.select("patient_id", "risk_band").iter_rows())
    assert [bands[f"p{i:03d}"] for i in (0, 1, 9, 10)] == ["very high", "high", "moderate", "low"]


def test_a_changed_rules_file_changes_assignments(tmp_path):
    text = files("wraparound").joinpath("data/streams.toml").read_text()
    edited = tmp_path / "streams.toml"
    edited.write_text(
        text.replace(
            '{ top_percent = 2 }, { efi_category = ["severe"] }',
            '{ top_percent = 5 }, { efi_category = ["severe"] }',
        ).replace('version = "2026.1"', 'version = "2026.2"')
    )
    before = stream_of(assign(scores(), load_rules()))
    after_rules = load_rules(edited)
    after = stream_of(assign(scores(), after_rules))
    assert after_rules.version == "2026.2"
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {"p002", "p003", "p004"}
    assert all(after[p] == "high_needs" for p in changed)


@pytest.mark.parametrize(
    "bad",
    [
        '[[stream]]\nid = "x"\nany = [{ top_percent = 2 }]\n',  # no catch-all stream
        '[[stream]]\nid = "x"\nany = [{ shoe_size = 9 }]\n[[stream]]\nid = "rest"\n',
        '[[stream]]\nid = "x"\nany = [{ register = ["gout"] }]\n[[stream]]\nid = "rest"\n',
    ],
)
def test_bad_rules_are_rejected_with_a_reason(tmp_path, bad):
    path = tmp_path / "streams.toml"
    path.write_text('version = "t"\n[[risk_band]]\nname = "all"\n[register]\ntop_n = 5\n' + bad)
    with pytest.raises(RulesError):
        load_rules(path)


def test_streams_from_the_engines_feature_table(hand_scored):
    assert stream_of(hand_scored) == {
        "s01": "high_needs",  # top 2% (1 of 11)
        "s02": "high_needs",  # severe frailty
        "s03": "high_needs",  # palliative care register
        "s04": "intermediate",  # moderate frailty
        "s05": "intermediate",  # diabetes and asthma: 2 long-term conditions
        "s06": "less_complex",  # 1 long-term condition
        "s07": "less_complex",  # 13 deficits, but no eFI category under 65
        "s08": "less_complex",  # depression does not count at 12: 1 long-term condition
        "s09": "less_complex",  # mild frailty
        "s10": "less_complex",
        "s11": "less_complex",
    }


def test_risk_bands_and_ranks_from_the_engines_feature_table(hand_scored):
    bands = dict(hand_scored.select("patient_id", "risk_band").iter_rows())
    # Top 0.5% and 2% of 11 are 1 patient, the top 10% are 2.
    assert bands == {"s01": "very high", "s02": "moderate"} | {
        f"s{i:02d}": "low" for i in range(3, 12)
    }
    assert hand_scored.sort("rank")["patient_id"].to_list() == [f"s{i:02d}" for i in range(1, 12)]


def test_the_engine_gives_the_inputs_the_streams_read(hand_scored):
    got = {r["patient_id"]: r for r in hand_scored.iter_rows(named=True)}
    assert [got[p]["efi_category"] for p in ("s02", "s04", "s07", "s09")] == [
        "severe",
        "moderate",
        None,
        "mild",
    ]
    assert [got[p]["n_ltc"] for p in ("s02", "s03", "s05", "s06", "s08")] == [0, 1, 2, 1, 1]
    assert got["s03"]["ltc_palliative_care"] == 1
