"""Merging a batch of incoming rows into a warehouse table, idempotently.

The rule, for rows sharing an ``id``: the newest version wins, ordered by ``updated_at`` then
``version_id`` (missing values count as oldest). On a tie the row already in the warehouse
stays, so loading the same data twice changes nothing, not even ``batch``; among incoming
rows that tie, the one that came last wins. The merge is an Ibis expression, so it runs on
whichever engine the warehouse is opened with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import ibis
import pyarrow as pa

from wraparound.warehouse.schema import TABLES, conform
from wraparound.warehouse.store import (
    PARTITIONS,
    ROW_GROUP,
    Transaction,
    table_writer,
    write_parquet,
)


@dataclass
class MergeStats:
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    # A first load's straight write ran out of DuckDB's memory and the table was written
    # again with every row ranked (``_write_first``): said in the report, so a slow
    # whole-region load shows where its time went.
    ranked_after_out_of_memory: bool = False

    def as_dict(self) -> dict[str, int]:
        counts = {"inserted": self.inserted, "replaced": self.replaced, "unchanged": self.unchanged}
        if self.ranked_after_out_of_memory:
            counts["ranked_after_out_of_memory"] = 1
        return counts


def upsert(engine, tx: Transaction, name: str, incoming: pa.Table) -> MergeStats:
    """Write ``current ∪ incoming`` (newest version of each id) as table ``name`` of ``tx``."""
    incoming = conform(
        name,
        incoming.set_column(
            incoming.schema.get_field_index("batch"),
            "batch",
            pa.array([tx.batch] * incoming.num_rows, pa.int64()),
        ),
    )
    cols = TABLES[name].names
    old = (
        # ``stored``, not ``table``: the direct-care identity table merges like any other,
        # but only writers may read it back (engine.table refuses it to analytics).
        engine.stored(name)
        .select(cols)
        .mutate(_src=ibis.literal(0, "int8"), _seq=ibis.literal(-1, "int64"))
    )
    new = engine.memtable(
        incoming.append_column("_src", pa.array([1] * incoming.num_rows, pa.int8())).append_column(
            "_seq", pa.array(range(incoming.num_rows), pa.int64())
        )
    )
    both = old.union(new)
    newest_first = ibis.window(
        group_by="id",
        order_by=[
            ibis.desc(both.updated_at, nulls_first=False),
            ibis.desc(both.version_id, nulls_first=False),
            both._src,
            ibis.desc(both._seq),
        ],
    )
    ranked = both.mutate(
        _rn=ibis.row_number().over(newest_first),
        _existed=(both._src == 0).cast("int8").max().over(ibis.window(group_by="id")),
    )
    winners = ranked.filter(ranked._rn == 0)
    counts = engine.to_arrow(
        winners.group_by(["_src", "_existed"]).agg(n=winners.count())
    ).to_pylist()
    stats = MergeStats()
    for row in counts:
        if row["_src"] == 1 and row["_existed"] == 0:
            stats.inserted += row["n"]
        elif row["_src"] == 1:
            stats.replaced += row["n"]
    stats.unchanged = len(set(incoming.column("id").to_pylist())) - stats.inserted - stats.replaced
    scratch = tx.scratch(name)
    engine.to_parquet(winners.select(cols).order_by("id"), scratch)
    tx.adopt(name, _cast_file(scratch, name))
    return stats


def _cast_file(path, name):
    """Engines may write nullable flags or integer widths differently; normalise to the schema.
    A row group at a time, into a file beside it that then replaces it: read whole, a
    region's identity table (3M people) took 1.5 GiB, most of an ingest's peak."""
    import pyarrow.parquet as pq

    want = TABLES[name]
    if pq.read_schema(path).equals(want):  # the footer only: most files are already right
        return path
    cast = path.with_name(path.name + ".cast")
    try:
        with table_writer(cast, name) as writer:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP):
                part = conform(name, pa.Table.from_batches([batch]))
                writer.write_table(part, row_group_size=ROW_GROUP)
        os.replace(cast, path)
    finally:
        cast.unlink(missing_ok=True)
    return path


# --- the same rule, in DuckDB SQL over staged files (ingest's write path) -------------------

_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int8(): "TINYINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def sql_type(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ"
    return _SQL_TYPES[kind]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_connection(database, spill):
    """A DuckDB connection for writers, bounded in memory: ``WRAPAROUND_DUCKDB_MEMORY_LIMIT``
    (default 1GB, so a whole-locality load stays small), spilling to ``spill``; UTC session;
    ``WRAPAROUND_THREADS`` threads (default every core)."""
    import duckdb

    from wraparound import config

    settings = config.current()
    con = duckdb.connect(str(database))
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit or '1GB'}'")
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    # A partitioned write buffers rows per open partition: flush them early, so forty periods
    # of a whole-locality load do not each hold half a million rows in memory.
    con.execute("SET partitioned_write_flush_threshold = 65536")
    if settings.threads is not None:
        con.execute(f"SET threads = {settings.threads}")
    return con


def current_sql(warehouse, name: str, filename: bool = False) -> str:
    """SQL selecting table ``name`` of the warehouse's current snapshot in schema order (the
    columns a file lacks, ``schema.ADDED``, as nulls; no file: no rows), whether it is one file
    or partitioned. ``filename``: with the column ``filename``, which file each row is in."""
    import pyarrow.parquet as pq

    schema = TABLES[name]
    files = warehouse.table_files(name) if warehouse.exists() else []
    extra = ", CAST(NULL AS VARCHAR) AS filename" if filename else ""
    if not files:
        cols = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {_q(f.name)}" for f in schema)
        return f"SELECT {cols}{extra} WHERE FALSE"
    present = set().union(*(pq.read_schema(f).names for f in files))
    cols = ", ".join(
        _q(f.name) if f.name in present else f"CAST(NULL AS {sql_type(f.type)}) AS {_q(f.name)}"
        for f in schema
    )
    listed = ", ".join(_lit(str(p)) for p in files)
    options = ", union_by_name = true" + (", filename = true" if filename else "")
    return f"SELECT {cols}{', filename' if filename else ''} FROM read_parquet([{listed}]{options})"


# zstd at level 1: 300k encounters take the same space on disk as at DuckDB's default level
# (145 MB against 146 MB) and are written 8% faster.
_ZSTD = "COMPRESSION zstd, COMPRESSION_LEVEL 1"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _newer(a: str, b: str) -> str:
    """SQL: row ``a`` is a strictly newer version than row ``b`` (missing counts as oldest)."""
    return (
        f"CASE WHEN {a}.updated_at IS DISTINCT FROM {b}.updated_at THEN "
        f"{b}.updated_at IS NULL OR ({a}.updated_at IS NOT NULL "
        f"AND {a}.updated_at > {b}.updated_at) "
        f"ELSE {a}.version_id IS DISTINCT FROM {b}.version_id AND ({b}.version_id IS NULL OR "
        f"({a}.version_id IS NOT NULL AND {a}.version_id > {b}.version_id)) END"
    )


def merge_staged(
    con,
    tx: Transaction,
    name: str,
    incoming_sql: str | None,
    deleted_ids: str | None = None,
    incoming_ids: str | None = None,
) -> tuple[MergeStats, int]:
    """Write table ``name`` of ``tx``: the current rows merged with ``incoming_sql`` (its
    columns plus ``_loc``, ``_sub``, the order the rows were read) by the module's rule, then
    the rows whose id ``deleted_ids`` (SQL yielding ``id``) lists removed. Returns the merge
    counts and how many rows were deleted. Runs in DuckDB over files, bounded in memory.
    ``incoming_ids``: SQL yielding the ``id`` of every incoming row, one per row, where that
    is cheaper than ``incoming_sql`` (ingest's rows are joins over staged files whose ids
    the joins never change); by default the ids are read from ``incoming_sql``.

    A partitioned table (``store.PARTITIONS``) rewrites only the partitions that gain, lose or
    change a row, and hard-links the others: what a daily feed costs is the few periods it
    touches, not the table. Finding the rows an incoming id replaces reads the ``id`` column
    of every partition (a row may move period when a new version changes its date)."""
    schema = TABLES[name]
    cols = [c for c in schema.names if c != "batch"]
    partitioned = name in PARTITIONS
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW m_old AS {current_sql(tx.warehouse, name, partitioned)}"
    )
    stats = MergeStats()
    dropped = _NO_IDS
    cast = ", ".join(f"CAST({_q(f.name)} AS {sql_type(f.type)}) AS {_q(f.name)}" for f in schema)
    first = not (tx.warehouse.exists() and tx.warehouse.table_files(name))
    if incoming_sql is not None:
        select = [*(_q(c) for c in cols), f"{int(tx.batch)} AS batch"]
        newest = _newest(
            con, incoming_sql, select, incoming_ids or f"SELECT id FROM ({incoming_sql})"
        )
        if first and deleted_ids is None:
            # A table with no rows yet (a first load): every newest version is inserted, so
            # it is written straight from the query, counted by the write itself, without
            # storing the batch in DuckDB first and reading it back.
            ranked = _ranked(incoming_sql, select)
            n, retried = _write_first(con, tx, name, newest, ranked, cast)
            return MergeStats(inserted=n, ranked_after_out_of_memory=retried), 0
        con.execute(f"CREATE OR REPLACE TABLE m_inc AS {newest}")
        where = ", o.filename AS _file" if partitioned else ""
        # A table with no rows yet (a first load) has nothing to compare with.
        cmp = "m_new" if first else "m_cmp"  # a view, or a table (never the same name)
        con.execute(f"""
            CREATE OR REPLACE {"VIEW" if first else "TABLE"} {cmp} AS
            SELECT i.*, o.id IS NOT NULL AS _existed,
                   o.id IS NULL OR ({_newer("i", "o")}) AS _wins {where}
            FROM m_inc i LEFT JOIN (
                SELECT id, updated_at, version_id{", filename" if partitioned else ""}
                FROM m_old WHERE id IN (SELECT id FROM m_inc)
            ) o USING (id)
        """)
        inserted, replaced, unchanged = con.execute(
            "SELECT count(*) FILTER (WHERE NOT _existed), "
            "count(*) FILTER (WHERE _existed AND _wins), "
            f"count(*) FILTER (WHERE _existed AND NOT _wins) FROM {cmp}"
        ).fetchall()[0]
        stats = MergeStats(inserted, replaced, unchanged)
        winners = f"SELECT {', '.join(_q(c) for c in schema.names)} FROM {cmp} WHERE _wins"
        dropped = f"SELECT id FROM {cmp} WHERE _wins"
    else:
        winners = None
        cmp = "m_cmp"
    deleted = 0
    if deleted_ids is not None:
        con.execute(f"CREATE OR REPLACE TABLE m_del AS SELECT DISTINCT id FROM ({deleted_ids})")
        if winners is not None:
            present = f"SELECT id FROM m_old UNION SELECT id FROM {cmp} WHERE _wins"
        else:
            present = "SELECT id FROM m_old"
        deleted = con.execute(f"SELECT count(*) FROM m_del WHERE id IN ({present})").fetchall()[0][
            0
        ]
        dropped = f"{dropped} UNION ALL SELECT id FROM m_del"
    if partitioned:
        _write_partitions(con, tx, name, winners, dropped, deleted_ids is not None, cast, cmp)
        return stats, int(deleted)
    body = f"SELECT * FROM m_old WHERE id NOT IN ({dropped})"
    if winners is not None:
        body += f" UNION ALL {winners}"
    _write_whole(con, tx, name, body, cast)
    return stats, int(deleted)


# SQL yielding no ids (nothing dropped).
_NO_IDS = "SELECT NULL::VARCHAR AS id WHERE FALSE"
# The search for repeated ids aggregates at most about this many ids in one statement: a
# region's 58.5M encounter ids ran out of DuckDB's 1 GB in one hash aggregate, and four
# slices of them took 14.7 s (ranking every row and writing it took 79.6 s; the plain write
# of the same rows 16.7 s).
IDS_PER_SLICE = 16_000_000
# How much finer the slices are made when a search still runs out of memory.
FINER_IDS = 4


def _write_first(
    con, tx: Transaction, name: str, newest: str, ranked: str, cast: str
) -> tuple[int, bool]:
    """Write the first rows of table ``name`` straight from ``newest``; the rows written, and
    whether they were written ranked after running out of memory.

    Streamed from the judged rows' joins into a partitioned write, a region's batch can run
    out of DuckDB's memory (a 3M export's did, once its repeated ids were found without
    ranking every row), most likely holding the joins' hash tables and the writer's open
    partitions at once. Ranking every row (``ranked``) ends the joins before the write
    starts, and is what every 3M load that succeeded did, so on an Out of Memory Error the
    table is written again that way. A failed write leaves nothing behind
    (``_write_partitions`` clears its scratch folder first; the whole file is overwritten)."""
    import duckdb

    try:
        return _write_winners(con, tx, name, newest, cast), False
    except duckdb.OutOfMemoryException:
        if newest == ranked:
            raise
    return _write_winners(con, tx, name, ranked, cast), True


def _write_winners(con, tx: Transaction, name: str, body: str, cast: str) -> int:
    winners = f"SELECT {', '.join(_q(c) for c in TABLES[name].names)} FROM ({body})"
    if name in PARTITIONS:
        return _write_partitions(con, tx, name, winners, _NO_IDS, False, cast, None)
    return _write_whole(con, tx, name, winners, cast)


_RANK = """
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC NULLS LAST,
        version_id DESC NULLS LAST, _loc DESC, _sub DESC) = 1
"""


def _ranked(incoming_sql: str, select: list[str]) -> str:
    """SQL of the newest incoming version of each id, every row ranked by the window."""
    return f"SELECT {', '.join(select)} FROM ({incoming_sql}) i {_RANK}"


def _newest(con, incoming_sql: str, select: list[str], incoming_ids: str) -> str:
    """SQL of the newest incoming version of each id; on a tie, the one read last.

    Only ids that come more than once need the window that picks the newest: a bulk export
    sends most resources once. Beside a partitioned write the window cost more than the
    write (300k encounters: 10.5 s against 6.5 s); finding the repeated ids is a hash
    aggregate of the ids alone (``incoming_ids``), in slices of ``hash(id)`` so that no
    aggregate holds more than ``IDS_PER_SLICE`` of them, and the window then runs over the
    repeated ids' rows alone. If the slices still run out of memory they are made
    ``FINER_IDS`` times finer once; after that every row is ranked, as every 3M load did."""
    import duckdb

    listed = ", ".join(select)
    once = f"SELECT {listed} FROM ({incoming_sql}) i"
    (rows,) = con.execute(f"SELECT count(*) FROM ({incoming_ids})").fetchall()[0]
    slices = max(1, -(-int(rows) // IDS_PER_SLICE))
    for n in (slices, slices * FINER_IDS):
        try:
            _repeated_ids(con, incoming_ids, n)
            break
        except duckdb.OutOfMemoryException:
            continue
    else:
        return _ranked(incoming_sql, select)
    (repeated,) = con.execute("SELECT count(*) FROM m_repeated").fetchall()[0]
    if not repeated:
        return once
    return f"""
        {once} WHERE id NOT IN (SELECT id FROM m_repeated)
        UNION ALL
        SELECT * FROM (
            SELECT {listed} FROM ({incoming_sql}) i WHERE id IN (SELECT id FROM m_repeated)
            {_RANK}
        )
    """


def _repeated_ids(con, incoming_ids: str, slices: int) -> None:
    """Table ``m_repeated``: the ids that ``incoming_ids`` yields more than once, found in
    ``slices`` statements, each over the ids with one value of ``hash(id) % slices``."""
    con.execute("CREATE OR REPLACE TEMP TABLE m_repeated (id VARCHAR)")
    for k in range(slices):
        where = "id IS NOT NULL" + (f" AND hash(id) % {slices} = {k}" if slices > 1 else "")
        con.execute(
            f"INSERT INTO m_repeated SELECT id FROM ({incoming_ids}) "
            f"WHERE {where} GROUP BY id HAVING count(*) > 1"
        )


def _write_whole(con, tx, name, body, cast) -> int:
    """Write ``body`` as the one file of table ``name``, in id order; the rows written."""
    scratch = tx.scratch(name)
    (n,) = con.execute(
        f"COPY (SELECT {cast} FROM ({body}) ORDER BY id) TO {_lit(str(scratch))} "
        f"(FORMAT parquet, {_ZSTD}, ROW_GROUP_SIZE {ROW_GROUP})"
    ).fetchall()[0]
    tx.adopt(name, _cast_file(scratch, name))
    return int(n)


def _write_partitions(con, tx, name, winners, dropped, deletes, cast, cmp) -> int:
    """Rewrite the partitions of ``name`` that the merge touches; hard-link the rest.
    Returns the rows written."""
    import shutil
    from pathlib import Path

    import pyarrow.parquet as pq

    column, fmt = PARTITIONS[name]
    key = f"coalesce(strftime({_q(column)}, '{fmt}'), 'none')"
    schema = TABLES[name]
    files = tx.warehouse.table_files(name) if tx.warehouse.exists() else []
    previous = tx.warehouse.table_path(name).with_suffix("") if files else None
    if not files or previous is None or not previous.is_dir():
        touched = set(map(str, files))  # one file, or none: rewritten whole, partitioned
    else:
        touched = set()
        if winners is not None:
            new_keys = {
                k
                for (k,) in con.execute(f"SELECT DISTINCT {key} FROM {cmp} WHERE _wins").fetchall()
            }
            old = con.execute(
                f"SELECT DISTINCT _file FROM {cmp} WHERE _wins AND _file IS NOT NULL"
            ).fetchall()
            touched |= {f for (f,) in old}
            touched |= {str(f) for f in files if f.name.split(".")[0] in new_keys}
        if deletes:
            gone = con.execute(
                "SELECT DISTINCT filename FROM m_old WHERE id IN (SELECT id FROM m_del)"
            ).fetchall()
            touched |= {f for (f,) in gone}
        # A partition written before a column was added is rewritten with it.
        touched |= {str(f) for f in files if pq.read_schema(f).names != schema.names}
        # A period is rewritten whole: every file of a touched period.
        periods = {Path(f).name.split(".")[0] for f in touched}
        touched = {str(f) for f in files if f.name.split(".")[0] in periods}
    keep = [f for f in files if str(f) not in touched]
    rewrite = [f for f in files if str(f) in touched]
    parts = []
    if rewrite:
        listed = ", ".join(_lit(f) for f in sorted(touched))
        parts.append(
            f"SELECT * EXCLUDE (filename) FROM m_old WHERE filename IN ({listed}) "
            f"AND id NOT IN ({dropped})"
            if previous is not None and previous.is_dir()
            else f"SELECT * EXCLUDE (filename) FROM m_old WHERE id NOT IN ({dropped})"
        )
    if winners is not None:
        parts.append(winners)
    target = tx.partitions_dir(name)
    scratch = tx.dir / f"_{name}.parts"
    shutil.rmtree(scratch, ignore_errors=True)
    written = 0
    if parts:
        body = " UNION ALL ".join(parts)
        (written,) = con.execute(
            f"COPY (SELECT {cast}, {key} AS _key FROM ({body})) TO {_lit(str(scratch))} "
            f"(FORMAT parquet, PARTITION_BY (_key), {_ZSTD}, "
            "ROW_GROUP_SIZE 65536, OVERWRITE_OR_IGNORE)"
        ).fetchall()[0]
    target.mkdir(parents=True, exist_ok=True)
    if scratch.exists():
        for folder in sorted(scratch.iterdir()):
            period = folder.name.split("=", 1)[1]
            for i, path in enumerate(sorted(folder.glob("*.parquet"))):
                suffix = "" if i == 0 else f".{i}"
                os.replace(path, target / f"{period}{suffix}.parquet")
        shutil.rmtree(scratch, ignore_errors=True)
    if not keep and not any(target.glob("*.parquet")):
        write_parquet(schema.empty_table(), target / "none.parquet")  # an empty table
    for path in target.glob("*.parquet"):
        _cast_file(Path(path), name)
    tx.adopt_partitions(name, target, keep)
    return int(written)
