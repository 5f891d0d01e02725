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
from ibis.expr.datatypes import DataType

from wraparound import config
from wraparound.warehouse.schema import ADDED, DIRECT_CARE, TABLES
from wraparound.warehouse.store import Warehouse

DEFAULT_ENGINE = config.Settings.engine
_ENGINE_IDS = itertools.count(1)


class DirectCareTableError(KeyError):
    """An analytic asked the engine for a direct-care table (``schema.DIRECT_CARE``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Engine(Protocol):
    """What every engine offers. Expressions are Ibis table expressions."""

    name: str

    def table(self, name: str) -> ibis.Table: ...

    def rows_of(self, name: str, patients: frozenset[str]) -> ibis.Table: ...

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
        self._rows: dict[tuple[str, frozenset[str]], ibis.Table] = {}
        self._prefix = f"wh{next(_ENGINE_IDS)}"

    def table(self, name: str) -> ibis.Table:
        """A warehouse table for analytics. Direct-care tables (``schema.DIRECT_CARE``: NHS
        numbers, names, contact details) are refused, so no analytic can read them."""
        if name in DIRECT_CARE:
            raise DirectCareTableError(
                f"{name!r} holds identifiers for direct care only; analytics cannot read it"
            )
        return self.stored(name)

    def rows_of(self, name: str, patients: frozenset[str]) -> ibis.Table:
        """The rows of table ``name`` that belong to ``patients``, read once per engine and
        then held in memory. An incremental app refresh asks several steps (patients,
        bookings, the timeline, letters) for the touched patients' rows of the same large
        table; a few patients' rows are in every period's file, so each would otherwise scan
        the whole table again. Only for a set of patients small enough to hold."""
        key = (name, patients)
        held = self._rows.get(key)
        if held is None:
            table = self.table(name)
            wanted = self.memtable(pa.table({"_pid": pa.array(sorted(patients), pa.string())}))
            rows = self.to_arrow(
                table.join(wanted, table.patient_id == wanted._pid).select(table.columns)
            )
            held = self._rows[key] = self.memtable(rows)
        return held

    def stored(self, name: str) -> ibis.Table:
        """Any table as stored, direct-care tables included: for the warehouse's own writers
        (``merge.upsert`` merges a batch into the current rows), never for analytics."""
        if name not in TABLES:
            raise KeyError(f"unknown warehouse table {name!r}")
        if name not in self._tables:
            path = self._source(name)
            # Views are named per engine: engines sharing a backend must not see each
            # other's warehouses.
            self._tables[name] = _upgrade(
                name, self.backend.read_parquet(path, table_name=f"{self._prefix}_{name}")
            )
        return self._tables[name]

    def _source(self, name: str) -> str:
        """Where the engine reads a table: the current snapshot's file, as ``manifest.json``
        names it."""
        return self.warehouse.table_source(name)  # a file, or a glob over partitions

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
        self._rows.clear()
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect and not self.shared:
            disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _upgrade(name: str, table: ibis.Table) -> ibis.Table:
    """A snapshot written before a column was added (``schema.ADDED``) reads with that column
    null, in schema order, so analytics and merges see one shape whatever wrote the file."""
    missing = [c for c in ADDED.get(name, ()) if c not in table.columns]
    if not missing:
        return table
    schema = TABLES[name]
    table = table.mutate(
        **{c: ibis.null(DataType.from_pyarrow(schema.field(c).type)) for c in missing}
    )
    return table.select(schema.names)


_MEMTABLE_IDS = itertools.count(1)


def _spark_compiler():
    """Ibis's PySpark compiler, but a float literal is a double, as it is on DuckDB.

    Spark SQL reads ``365.25`` as DECIMAL(5,2), so ``days / 365.25`` is decimal division,
    rounded to six decimal places, and a sum of person-years drifts from DuckDB's by about
    1e-8 relative. Casting every finite float literal to its float type keeps the arithmetic
    in doubles, so analytics can write ``/ 365.25`` on any engine.
    """
    import math

    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    class Compiler(PySparkCompiler):
        def visit_NonNullLiteral(self, op, *, value, dtype):
            if dtype.is_floating() and math.isfinite(value):
                return self.cast(value, dtype)
            return super().visit_NonNullLiteral(op, value=value, dtype=dtype)

    return Compiler()


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._views: list[str] = []

    def _source(self, name: str) -> str:
        """The table's file under ``WRAPAROUND_SPARK_WAREHOUSE_URL`` when set (say
        ``s3a://bucket/warehouse``): the driver follows ``manifest.json`` through its own
        path to the warehouse (a mount), and executors read the snapshot's files straight
        from object storage, which is faster and needs no mount on every executor."""
        local = Path(self.warehouse.table_source(name))
        url = config.current().spark_warehouse_url
        if not url:
            return str(local)
        return f"{url.rstrip('/')}/{local.relative_to(self.warehouse.root).as_posix()}"

    def memtable(self, data: pa.Table) -> ibis.Table:
        """Small inputs (code lists) go to Spark as Arrow. Ibis would go through pandas and a
        Python RDD, which starts Python workers on the executors: with this, executors run
        no Python at all, so a cluster needs no Python matching the driver's."""
        name = f"{self._prefix}_mem{next(_MEMTABLE_IDS)}"
        self.backend._session.createDataFrame(data).createOrReplaceTempView(name)
        self._views.append(name)
        return self.backend.table(name)

    def close(self) -> None:
        for name in self._views:
            self.backend._session.catalog.dropTempView(name)
        self._views.clear()
        super().close()

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


DEFAULT_MEMORY_LIMIT_GB = 4
"""The analytics' DuckDB memory limit when none is set (or half the machine's memory, if less),
in DuckDB's GB (10^9 bytes)."""


def default_memory_limit() -> str:
    """DuckDB's own default is 80% of the machine, and it keeps what it is given as cache, so
    one indicators run at 1M held 7.6 GiB where a 4 GB limit did the same work 5-10% slower in
    4.6 GiB (it spills the rest to the temp directory). The analytics share the machine with
    the app server and the overnight run's other stages, so they are bounded; a larger limit
    is one setting away."""
    import psutil

    half = psutil.virtual_memory().total / 1e9 / 2
    return f"{max(1, min(DEFAULT_MEMORY_LIMIT_GB, int(half)))}GB"


def _duckdb(warehouse: Warehouse) -> IbisEngine:
    settings = config.current()
    options = {"memory_limit": settings.duckdb_memory_limit or default_memory_limit()}
    if spill := settings.duckdb_temp_directory:
        options["temp_directory"] = spill
    if settings.threads is not None:
        options["threads"] = settings.threads
    backend = ibis.duckdb.connect(**options)
    return IbisEngine("duckdb", backend, warehouse)


def _spark(warehouse: Warehouse) -> IbisEngine:
    """Apache Spark through Ibis's PySpark backend: local mode by default, or the cluster
    named by ``WRAPAROUND_SPARK_MASTER`` (docs/configuration.md lists the settings)."""
    from pyspark.sql import SparkSession

    settings = config.current()
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("wraparound")
        # Timestamps are UTC in the warehouse; Spark must not shift them to local time.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", settings.spark_partitions)
        .config("spark.driver.memory", settings.spark_driver_memory)
    )
    if result_size := settings.spark_max_result_size:
        # Feature tables are collected to the driver: about 0.5 GB a million patients.
        builder = builder.config("spark.driver.maxResultSize", result_size)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    backend = ibis.pyspark.connect(session)
    backend.compiler = _spark_compiler()
    return SparkEngine("spark", backend, warehouse, shared=True)


ENGINES = {"duckdb": _duckdb, "spark": _spark}


def connect(warehouse: Warehouse | str | os.PathLike, engine: str | None = None) -> IbisEngine:
    """Open an engine over a warehouse. ``engine`` defaults to ``$WRAPAROUND_ENGINE`` or DuckDB."""
    if not isinstance(warehouse, Warehouse):
        warehouse = Warehouse(warehouse)
    name = engine or config.current().engine
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose from {sorted(ENGINES)}") from None
    return factory(warehouse)
