"""The same analytics give the same answers on every engine (DuckDB and Spark in local mode),
in the manner of ehrQL's spec tests that run against every engine.

Spark starts once per test session (about 15 s); the warehouse is the session's small
synthetic locality.
"""

from __future__ import annotations

import pytest

from wraparound.analytics.summary import summarise

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]


@pytest.fixture
def env(monkeypatch):
    """Spark in local mode on two cores, as CI has."""
    monkeypatch.setenv("WRAPAROUND_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("WRAPAROUND_SPARK_PARTITIONS", "2")
    return monkeypatch


def test_summary_identical_on_duckdb_and_spark(small_warehouse, env):
    env.setenv("WRAPAROUND_ENGINE", "duckdb")
    on_duckdb = summarise(small_warehouse)
    env.setenv("WRAPAROUND_ENGINE", "spark")
    on_spark = summarise(small_warehouse)
    assert on_spark == on_duckdb
    assert on_duckdb["emergency_admissions"] > 0


def test_unknown_engine_is_refused(small_warehouse, env):
    env.setenv("WRAPAROUND_ENGINE", "oracle")
    with pytest.raises(ValueError, match="unknown engine 'oracle'"):
        summarise(small_warehouse)
