"""Shared fixtures: small synthetic localities built once per test session."""

from __future__ import annotations

import pytest

from wraparound.sources.synthetic.writer import write_synthetic


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory):
    """A 3,000-patient synthetic locality written straight to a warehouse."""
    out = tmp_path_factory.mktemp("small") / "warehouse"
    write_synthetic(out, patients=3000, seed=5, progress=False)
    return out
