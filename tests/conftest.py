"""Shared fixtures: small synthetic localities built once per test session."""

from __future__ import annotations

import pytest
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
