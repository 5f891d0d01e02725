"""The engines the spec tests run on, in the manner of ehrQL's spec tests: every hand-worked
case runs on DuckDB and on Spark (local mode), and must give the hand-worked answer on both.

``tests/conftest.py`` turns ``ENGINES`` into the ``engine`` fixture. A case either opens the
engine itself (``engine.connect(warehouse)``) or runs a whole command that connects on its
own (the indicators run), inside ``engine.selected()``, which sets ``WRAPAROUND_ENGINE`` as
a deployment would. Spark starts once per test process (``SparkSession.getOrCreate``), and
every Spark case of that process reuses the session; the Spark cases are in the ``spark``
xdist group, so under ``pytest -n 2 --dist loadgroup`` one worker holds the only JVM.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wraparound.warehouse.engine import IbisEngine, connect

SPARK_GROUP = "spark"
ENGINES = ("duckdb", pytest.param("spark", marks=pytest.mark.xdist_group(SPARK_GROUP)))


def spark_local(mp: pytest.MonkeyPatch) -> None:
    """Spark in local mode, with two shuffle partitions (so every exchange really splits
    the rows) run by one task thread. Executors get no Python interpreter: the pipeline must
    run none there, so that a cluster needs none matching the driver's (a Python worker
    would fail the test).

    The JVM is set for a test's small, short queries, and for sharing two cores with the
    other xdist worker: one task thread (``local[1]``; the driver's own threads keep it at
    about 1.2 cores even so), the serial collector, and the quick JIT only (C1,
    ``-XX:TieredStopAtLevel=1``), since a test's queries are over before C2's optimised
    code would repay its compiling (the Spark frailty cases: 31 s of JVM CPU, 18.5 s with
    C1 only). Against ``local[2]`` and the default collector, the whole indicator library
    over the 3,000-patient locality took 0.85 of the JVM's CPU here. Spark's own planning
    and code generation are as in production."""
    mp.setenv("WRAPAROUND_SPARK_MASTER", "local[1]")
    mp.setenv("WRAPAROUND_SPARK_PARTITIONS", "2")
    mp.setenv("PYSPARK_PYTHON", "/nonexistent/python-on-executors")
    mp.setenv(
        "PYSPARK_SUBMIT_ARGS",
        "--driver-java-options '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' pyspark-shell",
    )


@dataclass(frozen=True)
class EngineUnderTest:
    """One engine, by the name ``connect`` and ``WRAPAROUND_ENGINE`` know it by."""

    name: str

    @contextlib.contextmanager
    def selected(self) -> Iterator[None]:
        """``WRAPAROUND_ENGINE`` names this engine (and Spark runs locally) while inside:
        for code that connects by itself, as the CLI commands do."""
        with pytest.MonkeyPatch.context() as mp:
            if self.name == "spark":
                spark_local(mp)
            mp.setenv("WRAPAROUND_ENGINE", self.name)
            yield

    @contextlib.contextmanager
    def connect(self, warehouse: str | Path) -> Iterator[IbisEngine]:
        """This engine over ``warehouse``."""
        with self.selected(), connect(warehouse, self.name) as opened:
            assert opened.name == self.name
            yield opened
