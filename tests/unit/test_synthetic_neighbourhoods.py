"""Issue 13: the demo locality has at least two neighbourhoods (hubs book across practices
and neighbourhoods can be compared) and every practice its own name."""

from __future__ import annotations

import pytest

from wraparound.sources.synthetic.organisations import build_locality


def _orgs(n: int, seed: int):
    rows = build_locality(n, seed=seed).tables["organisations"].to_pylist()
    return [r for r in rows if r["kind"] == "neighbourhood"], [
        r["name"] for r in rows if r["kind"] == "practice"
    ]


@pytest.mark.parametrize("seed", [42, 2026])
def test_a_50k_locality_has_two_neighbourhoods(seed):
    neighbourhoods, _ = _orgs(50_000, seed)
    assert len(neighbourhoods) == 2


def test_below_one_neighbourhood_minimum_there_is_one():
    neighbourhoods, _ = _orgs(20_000, 42)
    assert len(neighbourhoods) == 1


@pytest.mark.parametrize("n", [50_000, 300_000, 1_000_000])
def test_every_practice_has_its_own_name(n):
    _, names = _orgs(n, 42)
    assert len(names) == len(set(names))
