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
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound import config
from wraparound.warehouse import paths
from wraparound.warehouse.schema import ADDED, SCHEMA_VERSION, TABLES, conform, upgrade

MANIFEST = paths.MANIFEST
KEEP_SNAPSHOTS = 2
# Write locks this process holds, by resolved warehouse root: the open lock file.
_HELD: dict[str, object] = {}


def fault_point(name: str) -> None:
    """A named point of a write where tests stop the process the hard way.

    ``WRAPAROUND_FAULT_KILL=<name>`` kills the process with SIGKILL there (no cleanup runs,
    as with ``kill -9`` or a power cut); ``WRAPAROUND_FAULT_PAUSE=<name>`` sleeps there for
    ``WRAPAROUND_FAULT_SECONDS`` (default 5), so a test can start a second writer meanwhile.
    Unset, this costs a look at the kept settings (wraparound.config)."""
    settings = config.current()
    if settings.fault_kill == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if settings.fault_pause == name:
        time.sleep(settings.fault_seconds)


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
        path = paths.manifest(root)
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
        return paths.manifest(self.root).exists()

    def snapshot_dir(self, snapshot: int | None = None) -> Path:
        n = self.manifest.snapshot if snapshot is None else snapshot
        return paths.snapshot(self.root, n)

    def table_path(self, name: str) -> Path:
        """Path of the current Parquet file for a table (an empty file if never loaded)."""
        if name not in TABLES:
            raise KeyError(f"unknown warehouse table {name!r}")
        if not self.exists():
            raise WarehouseError(f"{self.root} is not a warehouse (no {MANIFEST})")
        return self.snapshot_dir() / f"{name}.parquet"

    def table_files(self, name: str) -> list[Path]:
        """The current snapshot's Parquet files of a table: one file, or one per partition
        (``PARTITIONS``), or none if the snapshot predates the table. Everything that reads a
        table's files goes through this (or :meth:`table_source`), whatever its layout."""
        path = self.table_path(name)
        folder = path.with_suffix("")
        if folder.is_dir():
            return sorted(folder.glob("*.parquet"))
        return [path] if path.exists() else []

    def table_source(self, name: str) -> str:
        """What an engine reads for a table: its file, or a glob over its partitions' files
        (``<snapshot>/<table>/*.parquet``, which DuckDB and Spark both read as one table)."""
        path = self.table_path(name)
        folder = path.with_suffix("")
        if folder.is_dir():
            return str(folder / "*.parquet")
        return str(path)

    def read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """Read a whole table into Arrow. For loaders and tests; analytics use the engine.

        A snapshot written before a column was added (``schema.ADDED``) reads with it null."""
        files = self.table_files(name) or [self.table_path(name)]
        want = list(columns) if columns is not None else TABLES[name].names
        parts = []
        for path in files:
            present = set(pq.read_schema(path).names)
            if all(c in present for c in ADDED.get(name, ())):
                parts.append(pq.read_table(path, columns=want))
                continue
            table = pq.read_table(
                path, columns=[c for c in want if c in present or c not in ADDED[name]]
            )
            parts.append(upgrade(name, table).select(want))
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables(parts)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the exclusive write lock on the warehouse for the duration of a write.

        A second writer (another process, or a second ``lock`` in this one) is refused at once
        with a clear message. ``flock`` locks die with their process, so after a ``kill -9``
        the next writer gets the lock straight away. An ingest holds it from reading to
        publishing, and opens its ``transaction`` with ``held=True``. Whoever takes the lock
        first clears what a killed writer left behind (:meth:`recover`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        key = str(self.root.resolve())
        with open(paths.lock(self.root), "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WarehouseError(
                    f"{self.root} is being written by another process (another load is "
                    "running); nothing was changed: run this one again when that one ends"
                ) from exc
            _HELD[key] = fh
            try:
                self.recover()
                yield
            finally:
                del _HELD[key]
                fcntl.flock(fh, fcntl.LOCK_UN)

    def staging_dir(self) -> Path:
        """Where a load stages its rows on disk: inside the warehouse directory, so on the
        same filesystem as the snapshots, and removed by :meth:`recover` if a load dies."""
        return paths.staging(self.root)

    def recover(self) -> None:
        """Remove what a writer killed part-way left: its staging area, a snapshot directory
        it never published (numbered above the manifest's), a half-written manifest, and
        scratch files. Called with the lock held; readers never looked at any of these."""
        shutil.rmtree(self.staging_dir(), ignore_errors=True)
        paths.manifest_tmp(self.root).unlink(missing_ok=True)
        current = self.manifest.snapshot
        snaps = paths.snapshots(self.root)
        if snaps.is_dir():
            for d in snaps.iterdir():
                if d.name.isdigit() and int(d.name) > current:
                    shutil.rmtree(d, ignore_errors=True)

    @contextlib.contextmanager
    def transaction(self, summary: dict | None = None, held: bool = False) -> Iterator[Transaction]:
        """Open a write. Tables written through the transaction replace the current ones whole;
        the rest carry over. Nothing is visible until the block exits cleanly; on an exception
        the half-written snapshot is removed and the warehouse is as it was. ``held``: the
        caller already holds :meth:`lock` (an ingest holds it while it reads the batch).
        """
        if held:
            if str(self.root.resolve()) not in _HELD:
                raise RuntimeError("transaction(held=True) without the warehouse lock")
            guard = contextlib.nullcontext()
        else:
            guard = self.lock()
        with guard:
            current = self.manifest
            tx = Transaction(self, current)
            try:
                yield tx
                tx.publish(summary or {})
            except BaseException:
                shutil.rmtree(tx.dir, ignore_errors=True)
                raise

    def _prune(self, keep_from: int) -> None:
        snaps = paths.snapshots(self.root)
        for d in snaps.iterdir():
            if d.name.isdigit() and int(d.name) <= keep_from - KEEP_SNAPSHOTS:
                shutil.rmtree(d, ignore_errors=True)


ROW_GROUP = 512_000

# Large tables are stored as one Parquet file per period of their event date (``YYYY-MM`` or
# ``YYYY``; ``none`` for rows without a date), in ``<snapshot>/<table>/<period>.parquet``, so
# that a daily feed rewrites the few periods it touches and hard-links the rest. The column
# and the strftime format of each; other tables are one file. Unpartitioned snapshots (written
# before, or by the synthetic generator) read as they are; a load rewrites them partitioned.
PARTITIONS: dict[str, tuple[str, str]] = {
    "encounters": ("start", "%Y-%m"),
    "observations": ("date", "%Y-%m"),
    "medications": ("start_date", "%Y-%m"),
    "procedures": ("date", "%Y"),
    "conditions": ("onset_date", "%Y"),
    "registrations": ("start_date", "%Y"),
}


def write_parquet(table: pa.Table, path: Path) -> None:
    """The one whole-table Parquet writer, so every table has the same compression."""
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP)


def table_writer(path: Path, name: str) -> pq.ParquetWriter:
    """The one streaming writer of table ``name`` (chunks written with ``row_group_size =
    ROW_GROUP``), with ``write_parquet``'s compression."""
    return pq.ParquetWriter(path, TABLES[name], compression="zstd")


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
            writer = self._writers[name] = table_writer(self.path(name), name)
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

    def partitions_dir(self, name: str) -> Path:
        """Where a partitioned table's files go in the new snapshot (``PARTITIONS``)."""
        return self.dir / name

    def adopt_partitions(self, name: str, written: Path, keep: list[Path]) -> None:
        """Take a folder of partition files (``<key>.parquet``, written by an engine) as the
        table's new contents, with ``keep``, the previous snapshot's untouched partition files,
        hard-linked beside them rather than copied."""
        if name in self._writers or name in self._adopted:
            raise ValueError(f"{name} was already written")
        want = TABLES[name]
        for path in written.glob("*.parquet"):
            got = pq.read_schema(path)
            if got.names != want.names or any(
                not g.type.equals(w.type) for g, w in zip(got, want, strict=True)
            ):
                raise ValueError(f"{name}: engine output does not match the schema:\n{got}")
        target = self.partitions_dir(name)
        if written != target:
            os.replace(written, target)
        for path in keep:
            os.link(path, target / path.name)
        self._adopted.add(name)

    def publish(self, summary: dict) -> None:
        for writer in self._writers.values():
            writer.close()
        written = set(self._writers) | self._adopted
        previous = self.warehouse.snapshot_dir(self.current.snapshot)
        for name, schema in TABLES.items():
            if name in written:
                continue
            if self.current.snapshot and (previous / name).is_dir():
                self.partitions_dir(name).mkdir()
                for path in (previous / name).glob("*.parquet"):
                    os.link(path, self.partitions_dir(name) / path.name)
            elif self.current.snapshot and (previous / f"{name}.parquet").exists():
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
        tmp = paths.manifest_tmp(root)
        tmp.write_text(json.dumps(new.__dict__, indent=2, default=str))
        fault_point("publishing")
        os.replace(tmp, paths.manifest(root))
        self.warehouse._prune(self.snapshot)
