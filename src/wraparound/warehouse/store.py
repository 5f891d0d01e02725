"""The warehouse on disk: Parquet files per table, committed as numbered snapshots.

A warehouse directory looks like::

    DIR/manifest.json          {"schema_version": 1, "snapshot": 3, "batch": 3, ...}
    DIR/snapshots/000003/patients.parquet
    DIR/snapshots/000003/encounters.parquet
    ...

Readers only ever follow ``manifest.json``. A writer builds a complete new snapshot beside
the current one and then replaces the manifest with ``os.replace``, which is atomic on POSIX
filesystems: a load either becomes visible whole or not at all, and a crash part-way leaves
the previous snapshot untouched. Unchanged tables are hard-linked into the new snapshot so a
small load does not rewrite a large warehouse.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.warehouse.schema import ADDED, SCHEMA_VERSION, TABLES, conform, upgrade

MANIFEST = "manifest.json"
KEEP_SNAPSHOTS = 2


class WarehouseError(RuntimeError):
    """The warehouse directory is missing, from another schema version, or busy."""


@dataclass
class Manifest:
    snapshot: int = 0
    batch: int = 0
    schema_version: int = SCHEMA_VERSION
    committed_at: str | None = None
    batches: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, root: Path) -> Manifest:
        path = root / MANIFEST
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        if data.get("schema_version") != SCHEMA_VERSION:
            raise WarehouseError(
                f"{root} has schema version {data.get('schema_version')}, "
                f"this Wraparound reads version {SCHEMA_VERSION}"
            )
        return cls(**data)


class Warehouse:
    """A warehouse directory. Cheap to construct; reads the manifest on demand."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @property
    def manifest(self) -> Manifest:
        return Manifest.read(self.root)

    def exists(self) -> bool:
        return (self.root / MANIFEST).exists()

    def snapshot_dir(self, snapshot: int | None = None) -> Path:
        n = self.manifest.snapshot if snapshot is None else snapshot
        return self.root / "snapshots" / f"{n:06d}"

    def table_path(self, name: str) -> Path:
        """Path of the current Parquet file for a table (an empty file if never loaded)."""
        if name not in TABLES:
            raise KeyError(f"unknown warehouse table {name!r}")
        if not self.exists():
            raise WarehouseError(f"{self.root} is not a warehouse (no {MANIFEST})")
        return self.snapshot_dir() / f"{name}.parquet"

    def read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """Read a whole table into Arrow. For loaders and tests; analytics use the engine.

        A snapshot written before a column was added (``schema.ADDED``) reads with it null."""
        path = self.table_path(name)
        present = set(pq.read_schema(path).names)
        if all(c in present for c in ADDED.get(name, ())):
            return pq.read_table(path, columns=columns)
        want = list(columns) if columns is not None else TABLES[name].names
        table = pq.read_table(
            path, columns=[c for c in want if c in present or c not in ADDED[name]]
        )
        return upgrade(name, table).select(want)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the warehouse for the duration of a write."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WarehouseError(f"{self.root} is being written by another process") from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self, summary: dict | None = None) -> Iterator[Transaction]:
        """Open a write. Tables written through the transaction replace the current ones whole;
        the rest carry over. Nothing is visible until the block exits cleanly; on an exception
        the half-written snapshot is removed and the warehouse is as it was.
        """
        with self.lock():
            current = self.manifest
            tx = Transaction(self, current)
            try:
                yield tx
                tx.publish(summary or {})
            except BaseException:
                shutil.rmtree(tx.dir, ignore_errors=True)
                raise

    def _prune(self, keep_from: int) -> None:
        snaps = self.root / "snapshots"
        for d in snaps.iterdir():
            if d.name.isdigit() and int(d.name) <= keep_from - KEEP_SNAPSHOTS:
                shutil.rmtree(d, ignore_errors=True)


ROW_GROUP = 512_000


def write_parquet(table: pa.Table, path: Path) -> None:
    """The one whole-table Parquet writer, so every table has the same compression."""
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP)


class Transaction:
    """A snapshot being written. See :meth:`Warehouse.transaction`."""

    def __init__(self, warehouse: Warehouse, current: Manifest):
        self.warehouse = warehouse
        self.current = current
        self.batch = current.batch + 1
        self.snapshot = current.snapshot + 1
        self.dir = warehouse.snapshot_dir(self.snapshot)
        if self.dir.exists():  # left over from a crash: never published, safe to discard
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._adopted: set[str] = set()

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.parquet"

    def scratch(self, name: str) -> Path:
        """A path inside the snapshot for an engine to write an intermediate file to."""
        return self.dir / f"_{name}.tmp.parquet"

    def append(self, name: str, table: pa.Table) -> None:
        """Append rows to a table of the new snapshot (call repeatedly to stream chunks)."""
        if name in self._adopted:
            raise ValueError(f"{name} was already written whole")
        table = conform(name, table)
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = pq.ParquetWriter(
                self.path(name), TABLES[name], compression="zstd"
            )
        writer.write_table(table, row_group_size=ROW_GROUP)

    def adopt(self, name: str, path: Path) -> None:
        """Take a complete Parquet file (written by an engine) as the table's new contents."""
        if name in self._writers:
            raise ValueError(f"{name} was already appended to")
        got = pq.read_schema(path)
        want = TABLES[name]
        if got.names != want.names or any(
            not g.type.equals(w.type) for g, w in zip(got, want, strict=True)
        ):
            raise ValueError(f"{name}: engine output does not match the schema:\n{got}")
        os.replace(path, self.path(name))
        self._adopted.add(name)

    def publish(self, summary: dict) -> None:
        for writer in self._writers.values():
            writer.close()
        written = set(self._writers) | self._adopted
        previous = self.warehouse.snapshot_dir(self.current.snapshot)
        for name, schema in TABLES.items():
            if name in written:
                continue
            if self.current.snapshot and (previous / f"{name}.parquet").exists():
                os.link(previous / f"{name}.parquet", self.path(name))
            else:
                write_parquet(schema.empty_table(), self.path(name))
        for leftover in self.dir.glob("_*.tmp.parquet"):
            leftover.unlink()
        new = Manifest(
            snapshot=self.snapshot,
            batch=self.batch,
            committed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            batches=[*self.current.batches, {"batch": self.batch, **summary}],
        )
        root = self.warehouse.root
        tmp = root / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(new.__dict__, indent=2, default=str))
        os.replace(tmp, root / MANIFEST)
        self.warehouse._prune(self.snapshot)
