"""Merging a batch of incoming rows into a warehouse table, idempotently.

The rule, for rows sharing an ``id``: the newest version wins, ordered by ``updated_at`` then
``version_id`` (missing values count as oldest). On a tie the row already in the warehouse
stays, so loading the same data twice changes nothing, not even ``batch``; among incoming
rows that tie, the one that came last wins. The merge is an Ibis expression, so it runs on
whichever engine the warehouse is opened with.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa

from wraparound.warehouse.schema import TABLES, conform
from wraparound.warehouse.store import Transaction


@dataclass
class MergeStats:
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "replaced": self.replaced, "unchanged": self.unchanged}


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
        engine.table(name)
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
    """Engines may write nullable flags or integer widths differently; normalise to the schema."""
    import pyarrow.parquet as pq

    from wraparound.warehouse.store import write_parquet

    table = pq.read_table(path)
    want = TABLES[name]
    if table.schema.equals(want):
        return path
    write_parquet(conform(name, table), path)
    return path
