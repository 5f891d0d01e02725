"""Fixtures shared by the unit tests' spec cases."""

from __future__ import annotations

import polars as pl
import pytest
import scored_cases


@pytest.fixture(scope="session")
def scored_cases_warehouse(tmp_path_factory):
    return scored_cases.write_cases(tmp_path_factory.mktemp("scored_cases") / "warehouse")


@pytest.fixture(scope="session")
def hand_scored(engine, scored_cases_warehouse) -> pl.DataFrame:
    """``scored_cases`` through each engine and the packaged rules, once per engine for the
    streams and the registers cases both (a Spark feature table costs tens of seconds)."""
    return scored_cases.scored(engine, scored_cases_warehouse)
