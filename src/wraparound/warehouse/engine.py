"""The engine interface: the only way population-scale computation reaches the warehouse.

Analytics build Ibis expressions over ``engine.table(name)`` and hand them back to the engine
to run (``to_arrow``, ``to_polars``, ``to_parquet``). They never import DuckDB or Spark, so the
same pipeline runs on embedded DuckDB (the default) or on Apache Spark, chosen by
configuration (``WRAPAROUND_ENGINE``) rather than by code.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Protocol

import ibis
import pyarrow as pa

from wraparound.warehouse.schema import TABLES
from wraparound.warehouse.store import Warehouse

DEFAULT_ENGINE = "duckdb"
_ENGINE_IDS = itertools.count(1)


class Engine(Protocol):
    """What every engine offers. Expressions are Ibis table expressions."""

    name: str

    def table(self, name: str) -> ibis.Table: ...

    def memtable(self, data: pa.Table) -> ibis.Table: ...

    def to_arrow(self, expr: ibis.Table) -> pa.Table: ...

    def to_parquet(self, expr: ibis.Table, path: Path) -> None: ...

    def close(self) -> None: ...


class IbisEngine:
    """An engine backed by an Ibis backend, with the warehouse tables registered as views."""

    def __init__(self, name: str, backend, warehouse: Warehouse, shared: bool = False):
        self.name = name
        self.backend = backend
        self.warehouse = warehouse
        # A shared backend (one SparkSession per process) outlives this engine: close()
        # drops this engine's views but does not stop the session.
        self.shared = shared
        self._tables: dict[str, ibis.Table] = {}
        self._prefix = f"wh{next(_ENGINE_IDS)}"

    def table(self, name: str) -> ibis.Table:
        if name not in TABLES:
            raise KeyError(f"unknown warehouse table {name!r}")
        if name not in self._tables:
            path = str(self.warehouse.table_path(name))
            # Views are named per engine: engines sharing a backend must not see each
            # other's warehouses.
            self._tables[name] = self.backend.read_parquet(
                path, table_name=f"{self._prefix}_{name}"
            )
        return self._tables[name]

    def memtable(self, data: pa.Table) -> ibis.Table:
        return ibis.memtable(data)

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        return self.backend.to_pyarrow(expr)

    def to_polars(self, expr: ibis.Table):
        return self.backend.to_polars(expr)

    def to_parquet(self, expr: ibis.Table, path: Path) -> None:
        self.backend.to_parquet(expr, str(path), compression="zstd")

    def close(self) -> None:
        self._tables.clear()
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect and not self.shared:
            disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SparkEngine(IbisEngine):
    """Spark's differences from DuckDB, kept here so that analytics never see them.

    Results come back through Spark's own Arrow path (``DataFrame.toArrow``) rather than
    Ibis's PySpark ``to_pyarrow``, which goes row by row through pandas: slow at a million
    patients, and it turns nullable integers into floats on the way. ``to_parquet`` writes
    one Parquet file, as DuckDB does, instead of Spark's directory of part files, so that
    whatever reads a result need not know which engine wrote it; the result is collected to
    the driver, which suits what the pipeline writes (a row per patient at most) and not
    bulk copies of the warehouse.
    """

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        table = expr.as_table()
        # Registers the memtables (code lists) the expression uses as Spark temporary views.
        self.backend._run_pre_execute_hooks(table)
        frame = self.backend._session.sql(self.backend.compile(table))
        arrow = frame.toArrow()
        # Spark widens some types (a count is a bigint, a date difference an int); the Ibis
        # schema is what DuckDB returns too.
        schema = table.schema().to_pyarrow()
        return arrow.cast(pa.schema([pa.field(f.name, f.type) for f in schema]))

    def to_polars(self, expr: ibis.Table):
        import polars as pl

        return pl.from_arrow(self.to_arrow(expr))

    def to_parquet(self, expr: ibis.Table, path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(expr), str(path), compression="zstd")


def _duckdb(warehouse: Warehouse) -> IbisEngine:
    config = {}
    if limit := os.environ.get("WRAPAROUND_DUCKDB_MEMORY_LIMIT"):
        config["memory_limit"] = limit
    if threads := os.environ.get("WRAPAROUND_THREADS"):
        config["threads"] = int(threads)
    backend = ibis.duckdb.connect(**config)
    return IbisEngine("duckdb", backend, warehouse)


def _spark(warehouse: Warehouse) -> IbisEngine:
    """Apache Spark through Ibis's PySpark backend: local mode by default, or the cluster
    named by ``WRAPAROUND_SPARK_MASTER`` (docs/warehouse.md lists the settings)."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(os.environ.get("WRAPAROUND_SPARK_MASTER", "local[*]"))
        .appName("wraparound")
        # Timestamps are UTC in the warehouse; Spark must not shift them to local time.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions",
                os.environ.get("WRAPAROUND_SPARK_PARTITIONS", "8"))
        .config("spark.driver.memory", os.environ.get("WRAPAROUND_SPARK_DRIVER_MEMORY", "4g"))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return SparkEngine("spark", ibis.pyspark.connect(session), warehouse, shared=True)


ENGINES = {"duckdb": _duckdb, "spark": _spark}


def connect(warehouse: Warehouse | str | os.PathLike, engine: str | None = None) -> IbisEngine:
    """Open an engine over a warehouse. ``engine`` defaults to ``$WRAPAROUND_ENGINE`` or DuckDB."""
    if not isinstance(warehouse, Warehouse):
        warehouse = Warehouse(warehouse)
    name = engine or os.environ.get("WRAPAROUND_ENGINE", DEFAULT_ENGINE)
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose from {sorted(ENGINES)}") from None
    return factory(warehouse)
