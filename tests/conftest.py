"""Shared fixtures: small synthetic localities built once per test session, and the engines
every hand-worked spec case runs on."""

from __future__ import annotations

import pytest
from engines import ENGINES, EngineUnderTest
from hypothesis import settings

from wraparound.sources.synthetic.writer import write_synthetic

# Property tests check behaviour, not speed: on a loaded 2-core CI machine Hypothesis's
# default 200 ms deadline fails correct code at random.
settings.register_profile("wraparound", deadline=None)
settings.load_profile("wraparound")


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory):
    """A 3,000-patient synthetic locality written straight to a warehouse."""
    out = tmp_path_factory.mktemp("small") / "warehouse"
    write_synthetic(out, patients=3000, seed=5, progress=False)
    return out


@pytest.fixture(scope="session", params=ENGINES)
def engine(request) -> EngineUnderTest:
    """Each engine in turn (DuckDB, then Spark in local mode), for the spec cases: a case
    using this runs once per engine and must give its hand-worked answer on each. Session
    scoped, so the Spark cases of a process share one SparkSession (tests/engines.py)."""
    return EngineUnderTest(request.param)
