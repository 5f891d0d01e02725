"""Staging a batch on disk as it is read, so memory does not grow with the batch.

Readers keep their interface (``batch.add(table, row, loc)``, ``batch.patients[...] = ...``):
:class:`StagedBatch` is a :class:`~wraparound.sources.ingest_batch.Batch` whose rows are
buffered a few tens of thousands at a time and flushed to Parquet files under the staging
directory, one folder per table (``<table>/<tag>-<n>.parquet``). Each staged row carries:

* ``_loc``, ``_sub``: where it came from (file and position, packed) and its order within
  the reading task, so (``_loc``, ``_sub``) is the order in which the batch was read;
* ``_code``, ``_reason``: the first row rule it breaks (``ingest_rules.check_row``), judged
  here because the rules need no other row, and reported later only if no reference of the
  row fails first (the order of checks is the same as it always was);
* ``_med_ref``: the Medication reference that will code a MedicationRequest;
* ``_amb``: an ambulatory Encounter whose kind depends on its provider.

The indexes that references resolve against are staged too, as small tables of their own
(``_identifiers``, ``_full_urls``, ``_medications``); patients, organisations, practitioners
and roles need none, because their staged rows are the index. ``ingest_check`` then resolves
and judges everything with DuckDB over these files. A reading task (a file, or a span of lines
of a large NDJSON file) runs in a worker process of its own (:func:`read_task`), so a batch is
read on every core.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.sources.ingest_batch import Batch, SourceFile
from wraparound.sources.ingest_rules import COLUMNS, VALID, check_row
from wraparound.sources.ingest_values import Clock, Reject
from wraparound.warehouse.schema import TABLES

# Rows buffered (all tables together) before they are written out: enough to keep Parquet
# files reasonably large, few enough that a worker holds tens of megabytes, not gigabytes.
FLUSH_ROWS = 65_536
# Errors each task keeps in full; the report shows at most ingest.MAX_ERRORS in all.
KEEP_ERRORS = 10_000
EXTRA = pa.schema(
    [
        pa.field("_loc", pa.int64()),
        pa.field("_sub", pa.int64()),
        pa.field("_code", pa.string()),
        pa.field("_reason", pa.string()),
        pa.field("_med_ref", pa.string()),
        pa.field("_amb", pa.bool_()),
    ]
)
INDEXES: dict[str, pa.Schema] = {
    "_identifiers": pa.schema(
        [
            ("rtype", pa.string()),
            ("system", pa.string()),
            ("value", pa.string()),
            ("rid", pa.string()),
            ("_sub", pa.int64()),
        ]
    ),
    "_full_urls": pa.schema(
        [("url", pa.string()), ("rtype", pa.string()), ("rid", pa.string()), ("_sub", pa.int64())]
    ),
    "_medications": pa.schema(
        [("rid", pa.string()), ("concept", pa.string()), ("_sub", pa.int64())]
    ),
}
# A placeholder coding for a medication row still waiting for its Medication: the row rules
# are judged with it, since whatever the Medication gives is always a known system and code.
_PENDING_CODE = ("snomed", "pending")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NO_VALUE = object()


def _array(values, kind: pa.DataType) -> pa.Array:
    """``pa.array``, but UTC instants go through integers. Older PyArrow converted tz-aware
    datetimes some 50 times slower than this arithmetic; PyArrow 26 is only a little slower
    (65,536 instants: about 16 ms against 14). A run of the same object is converted once:
    an export stamps most resources with one ``meta.lastUpdated``, which the reader parses
    once (``fhir/extract.py``), so every row's ``updated_at`` is the same datetime and costs
    0.03 microseconds here instead of 0.31; distinct instants cost 6% more than a plain
    comprehension (0.35 against 0.33)."""
    if pa.types.is_timestamp(kind):
        micros: list = []
        append = micros.append
        last: object = _NO_VALUE
        value = None
        try:
            for v in values:
                if v is not last:
                    last = v
                    value = None if v is None else (v - _EPOCH) // _MICROSECOND
                append(value)
        except TypeError:  # a naive datetime: let PyArrow judge it
            return pa.array(values, type=kind)
        return pa.array(micros, pa.int64()).cast(kind)
    return pa.array(values, type=kind)


def staged_schema(table: str) -> pa.Schema:
    schema = TABLES[table]
    fields = [schema.field(c) for c in COLUMNS[table]]
    return pa.schema([*fields, *EXTRA])


class _Sink:
    """An index the staged rows already hold (patients, organisations, ...): writes vanish."""

    __slots__ = ()

    def __setitem__(self, key, value) -> None:
        pass

    def add(self, key) -> None:
        pass

    def get(self, key, default=None):
        return default

    def __contains__(self, key) -> bool:
        return False


class _Spill:
    """An index written out with the rows. ``full_urls`` also answers lookups for the file
    being read (a Bundle registers its entries' fullUrls before reading them)."""

    __slots__ = ("batch", "name", "recent")

    def __init__(self, batch: StagedBatch, name: str, recent: bool = False):
        self.batch = batch
        self.name = name
        self.recent: dict | None = {} if recent else None

    def __setitem__(self, key, value) -> None:
        b = self.batch
        b._sub += 1
        if self.name == "_identifiers":
            b._index_rows[self.name].append((*key, value, b._sub))
        elif self.name == "_full_urls":
            self.recent[key] = value
            b._index_rows[self.name].append((key, value[0], value[1], b._sub))
        else:
            b._index_rows[self.name].append((key, orjson.dumps(value).decode(), b._sub))
        b._pending_rows += 1

    def get(self, key, default=None):
        if self.recent is None:
            return default
        return self.recent.get(key, default)

    def __contains__(self, key) -> bool:
        return self.recent is not None and key in self.recent


class _Marks:
    """``pending_medications`` / ``ambulatory``: readers append before they ``add`` the row,
    so the mark is attached to the row as it is staged."""

    __slots__ = ("marks", "medication")

    def __init__(self, medication: bool):
        self.marks: dict[int, object] = {}
        self.medication = medication

    def append(self, item) -> None:
        if self.medication:
            row, ref, _loc = item
            self.marks[id(row)] = ref
        else:
            self.marks[id(item)] = True

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass
class TaskResult:
    """What a reading task hands back: counts and the first errors, never the rows."""

    files: dict[int, tuple[str, int]] = field(default_factory=dict)  # file_no -> (format, n)
    read_by_type: Counter = field(default_factory=Counter)
    skipped_types: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    data_quality: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)
    rejected: int = 0
    identifier_refs: set[str] = field(default_factory=set)
    deletions: list[tuple[str, str, int]] = field(default_factory=list)
    skipped_files: list[dict] = field(default_factory=list)
    nbytes: int = 0


class StagedBatch(Batch):
    """A batch whose rows go to Parquet files under ``stage`` as they are read."""

    def __init__(self, clock: Clock, stage: Path, tag: str, file_nos: dict[str, int]):
        super().__init__(clock)
        self.stage = stage
        self.tag = tag
        self.file_nos = file_nos
        self.files: dict[int, SourceFile] = {}  # type: ignore[assignment]
        self.rows = {t: [] for t in TABLES}
        self.patients = self.births = self.orgs = self.org_kinds = _Sink()  # type: ignore
        self.practitioners = self.roles = _Sink()  # type: ignore[assignment]
        self.identifiers = _Spill(self, "_identifiers")  # type: ignore[assignment]
        self.full_urls = _Spill(self, "_full_urls", recent=True)  # type: ignore[assignment]
        self.medications = _Spill(self, "_medications")  # type: ignore[assignment]
        self.pending_medications = _Marks(medication=True)  # type: ignore[assignment]
        self.ambulatory = _Marks(medication=False)  # type: ignore[assignment]
        self._index_rows: dict[str, list] = {name: [] for name in INDEXES}
        self._sub = 0
        self._pending_rows = 0
        self._parts = 0
        self.row_counts: Counter = Counter()
        self.error_counts: Counter = Counter()
        self._rejected: set[tuple[int, str | None]] = set()
        self._now, self._latest = clock.now, clock.latest_date

    def add_file(self, path: Path, fmt: str) -> int:
        file_no = self.file_nos[str(path)]
        self.files[file_no] = SourceFile(path, fmt)
        self.full_urls.recent.clear()  # reading-time fullUrl lookups are per file
        return file_no

    def add(self, table: str, row: list, loc: int) -> None:
        med_ref = amb = None
        if table == "medications":
            med_ref = self.pending_medications.marks.pop(id(row), None)
        elif table == "encounters":
            amb = self.ambulatory.marks.pop(id(row), None)
        code = reason = None
        checked = row if med_ref is None else [*row[:2], *_PENDING_CODE, *row[4:]]
        try:
            valid = VALID[table](checked, self._now, self._latest)
        except TypeError:  # a value of the wrong type: check_row says what is wrong
            valid = False
        if not valid:
            try:
                check_row(table, checked, self.clock)
            except Reject as problem:
                code, reason = problem.code, problem.reason
        self._sub += 1
        row.extend((loc, self._sub, code, reason, med_ref, amb))
        self.rows[table].append(row)
        self._pending_rows += 1
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def error(self, loc, problem, resource_type, resource_id, position=None) -> None:
        self.error_counts[problem.code] += 1
        self._rejected.add((loc, position, resource_id))
        if len(self.errors) < KEEP_ERRORS:
            super().error(loc, problem, resource_type, resource_id, position)

    def flush(self) -> None:
        """Write the buffered rows and index entries out and forget them."""
        for table, rows in self.rows.items():
            if rows:
                self.row_counts[table] += len(rows)  # counted here, not per row
                self._write(table, staged_schema(table), rows)
                rows.clear()
        for name, rows in self._index_rows.items():
            if rows:
                self._write(name, INDEXES[name], rows)
                rows.clear()
        self._pending_rows = 0

    def _write(self, name: str, schema: pa.Schema, rows: list) -> None:
        columns = list(zip(*rows, strict=True))
        arrays = [_array(col, f.type) for f, col in zip(schema, columns, strict=True)]
        folder = self.stage / name
        folder.mkdir(parents=True, exist_ok=True)
        self._parts += 1
        path = folder / f"{self.tag}-{self._parts:05d}.parquet"
        tmp = path.with_suffix(".tmp")
        # Staging files are read once or twice, whole, by DuckDB: no dictionaries or
        # statistics to build (a third of the cost of writing them), lz4 for the disk.
        pq.write_table(
            pa.Table.from_arrays(arrays, schema=schema),
            tmp,
            compression="lz4",
            use_dictionary=False,
            write_statistics=False,
        )
        os.replace(tmp, path)  # a task killed mid-write leaves no half file behind a name

    def result(self) -> TaskResult:
        self.flush()
        return TaskResult(
            files={n: (f.format, f.resources) for n, f in self.files.items()},
            read_by_type=self.read_by_type,
            skipped_types=self.skipped_types,
            skipped=self.skipped,
            data_quality=self.data_quality,
            rows=self.row_counts,
            errors=self.errors,
            error_counts=self.error_counts,
            rejected=len(self._rejected),
            identifier_refs=set(getattr(self, "identifier_refs", ()) or ()),
            deletions=list(getattr(self, "deletions", ()) or ()),
            skipped_files=list(getattr(self, "skipped_files", ()) or ()),
        )


# --- reading tasks ------------------------------------------------------------------------

# NDJSON files larger than this are read as spans of about this many bytes, each a task of its
# own, so that one large file (Observation.ndjson) still uses every core.
SPAN_BYTES = 48 * 2**20


@dataclass(frozen=True)
class Task:
    """One unit of reading: a whole file, or lines [first_line, ...) of bytes [start, end)."""

    path: str
    file_no: int
    size: int
    span: tuple[int, int, int] | None = None  # (start byte, end byte, first line number)


def plan_tasks(files: list[Path], span_bytes: int = SPAN_BYTES):
    """Tasks for ``files`` (numbered in order), splitting large plain NDJSON files at line
    boundaries. A generator: the line count of each span is found as the tasks are handed
    out, so it overlaps with the reading."""
    for file_no, path in enumerate(files):
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if not path.name.lower().endswith(".ndjson") or size <= span_bytes or _is_export_file(path):
            yield Task(str(path), file_no, size)
            continue
        yield from _spans(path, file_no, size, span_bytes)


def _read_span(path: Path, span: tuple[int, int, int], ctx) -> None:
    """Lines of one span of a large NDJSON file, numbered as in the whole file."""
    import io

    from wraparound.sources.fhir import read
    from wraparound.sources.ingest_batch import NDJSON
    from wraparound.sources.ingest_values import UNREADABLE_FILE

    start, end, first_line = span
    batch = ctx.batch
    file_no = batch.add_file(path, NDJSON)
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
    except OSError as exc:
        batch.file_error(file_no, Reject(UNREADABLE_FILE, str(exc)), "file")
        return
    stream = io.BytesIO(data)
    done = read._ndjson_lines(stream, stream, file_no, ctx, None, first_line)
    batch.files[file_no].resources = done


def _is_export_file(path: Path) -> bool:
    """A bulk export's own file (log, error file): read whole, so the reader skips it whole."""
    from wraparound.sources.fhir import read

    reason = getattr(read, "_export_file_reason", None)
    first = getattr(read, "_first_object", None)
    if reason is None or first is None:
        return False
    try:
        with open(path, "rb") as fh:
            return reason(first(fh), path.name) is not None
    except OSError:
        return False


def _spans(path: Path, file_no: int, size: int, span_bytes: int):
    """Spans of whole lines, each numbered by its first line. This runs in the main process
    beside the workers, so it reads into one reused buffer and counts the line ends there:
    joining a span's tail onto it copied the span each time (a twentieth of a load's CPU)."""
    line = 1
    start = 0
    buffer = bytearray(span_bytes)
    view = memoryview(buffer)
    with open(path, "rb") as fh:
        while start < size:
            got = fh.readinto(buffer)
            if not got:
                break
            end = start + got
            lines = buffer.count(b"\n", 0, got)
            if end < size and view[got - 1] != 0x0A:
                tail = fh.readline()
                end += len(tail)
                lines += tail.count(b"\n")
            yield Task(str(path), file_no, end - start, (start, end, line))
            line += lines
            start = end


@dataclass
class Reader:
    """Everything a worker needs to read tasks: set once per worker, not per task."""

    stage: Path
    clock: Clock
    pseudo: object
    file_nos: dict[str, int]
    strict: bool = False


_READER: Reader | None = None


def init_worker(reader: Reader) -> None:
    global _READER
    _READER = reader


def read_task(task: Task) -> TaskResult:
    """Read one task into staging (in a worker process; :func:`init_worker` ran first)."""
    from wraparound.sources.csv.read import read_csv_file
    from wraparound.sources.fhir.extract import Context
    from wraparound.sources.fhir.read import read_fhir_file

    reader = _READER
    tag = f"f{task.file_no:06d}-{task.span[0] if task.span else 0:013d}"
    batch = StagedBatch(reader.clock, reader.stage, tag, reader.file_nos)
    ctx = Context(batch, reader.pseudo, strict=reader.strict)
    path = Path(task.path)
    # Parsed resources and buffered rows are millions of small containers without cycles:
    # the cyclic collector would scan the buffer over and over (a fifth of the reading
    # time), so it is off while a task reads and run once when it ends.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if path.suffix.lower() == ".csv":
            read_csv_file(path, ctx, None)
        elif task.span is not None:
            _read_span(path, task.span, ctx)
        else:
            read_fhir_file(path, ctx, None)
        result = batch.result()
    finally:
        if collecting:
            gc.enable()
    result.nbytes = task.size
    return result


def read_all(tasks, reader: Reader, workers: int, advance) -> list[TaskResult]:
    """Run every task, in ``workers`` processes (or here, for one), and return their results
    in task order, so errors are listed in the order the files were named."""
    if workers <= 1:
        init_worker(reader)
        results = []
        for task in tasks:
            results.append(read_task(task))
            advance(task.size)
        return results
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pa.array([0], pa.int64())  # PyArrow's first conversion imports lazily: once, not per worker
    done: dict[int, TaskResult] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        # fork: the workers start with everything already imported (seconds per worker
        # where bytecode is not cached); nothing here holds a lock a child could inherit.
        mp_context=mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn"),
        initializer=init_worker,
        initargs=(reader,),
    ) as pool:
        running: dict = {}
        planned = enumerate(tasks)
        exhausted = False
        while running or not exhausted:
            # Keep a few tasks queued per worker: enough to keep them busy, few enough that
            # planning the spans of the next file overlaps with reading.
            while not exhausted and len(running) < 2 * workers:
                try:
                    i, task = next(planned)
                except StopIteration:
                    exhausted = True
                    break
                running[pool.submit(read_task, task)] = (i, task)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                i, task = running.pop(future)
                done[i] = future.result()
                advance(task.size)
    return [done[i] for i in sorted(done)]
