"""The analytics' DuckDB is bounded: DuckDB's own default (80% of the machine, kept as cache)
let one indicators run at 1M hold 7.6 GiB. Unset, the limit is 4 GB or half the machine's
memory; ``WRAPAROUND_DUCKDB_MEMORY_LIMIT`` replaces it."""

from __future__ import annotations

import psutil
import pytest
from builders import person, write

from wraparound import config
from wraparound.warehouse import engine as engines


@pytest.fixture
def warehouse(tmp_path):
    return write(tmp_path / "warehouse", person("a", 70))


ROUNDING = 0.11 * 2**30  # DuckDB shows the limit to a tenth of a GiB


def _limit_bytes(warehouse) -> float:
    with engines.connect(warehouse, engine="duckdb") as engine:
        text = engine.backend.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return float(number) * {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def test_unset_the_limit_is_4gb_or_half_the_machine(warehouse, monkeypatch):
    monkeypatch.delenv("WRAPAROUND_DUCKDB_MEMORY_LIMIT", raising=False)
    config.reload()
    half = psutil.virtual_memory().total / 2
    expected = min(4e9, max(1e9, int(half / 1e9) * 1e9))
    assert _limit_bytes(warehouse) == pytest.approx(expected, abs=ROUNDING)
    assert _limit_bytes(warehouse) < 0.8 * psutil.virtual_memory().total


def test_the_setting_replaces_the_default(warehouse, monkeypatch):
    monkeypatch.setenv("WRAPAROUND_DUCKDB_MEMORY_LIMIT", "1500MB")
    config.reload()
    assert _limit_bytes(warehouse) == pytest.approx(1.5e9, abs=ROUNDING)
