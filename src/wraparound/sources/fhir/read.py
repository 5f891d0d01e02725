"""Reading FHIR R4 files: JSON (a Bundle of any type, or one resource) and bulk-export NDJSON,
either of them gzipped (``.ndjson.gz``, ``.json.gz``, as bulk exports often ship).

This module knows files and positions; ``extract`` knows resources. Positions are what a
person needs to find the problem: the line of an NDJSON file, the entry of a Bundle
(``entry[3]``), the line and column of malformed JSON.

It also knows what a bulk export puts beside its resources: the exporter's ``log.ndjson``
(log items, no ``resourceType``), the ``manifest.json`` (``transactionTime``, ``output``) and
``OperationOutcome`` error files. Those are listed in ``batch.skipped_files`` and never read
as resources, so they never fail a batch. And it reads ``Bundle.entry.request``: a ``DELETE``
entry is recorded in ``batch.deletions`` for the write path to apply.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import HANDLERS, Context, extract
from wraparound.sources.fhir.validate import structural_problems
from wraparound.sources.ingest_batch import BUNDLE, NDJSON, RESOURCE
from wraparound.sources.ingest_values import (
    INVALID_REFERENCE,
    INVALID_RESOURCE,
    INVALID_VALUE,
    MALFORMED_JSON,
    UNREADABLE_FILE,
    Reject,
)

Progress = Callable[[int], None]
# How many NDJSON lines between progress updates: often enough to look alive, rarely
# enough to cost nothing.
_PROGRESS_EVERY = 20_000
# File names (lower case) this reader accepts; ingest's discovery uses the same tuple.
NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
JSON_SUFFIXES = (".json", ".json.gz")
FHIR_SUFFIXES = NDJSON_SUFFIXES + JSON_SUFFIXES

# Why a bulk export's own files are skipped (report ``skipped_files[].reason``).
EXPORT_LOG = "bulk export log (log items without resourceType)"
EXPORT_MANIFEST = "bulk data export manifest (transactionTime, output)"
EXPORT_ERRORS = "bulk export error file (OperationOutcome)"
# Keys of a bulk-data client's log item (smart-on-fhir bulk-data-client, Synthea's exporter).
_LOG_KEYS = frozenset({"eventId", "exportId"})
_LOG_NAMES = frozenset({"log.ndjson", "log.ndjson.gz"})
# Python errors a resource of the wrong shape raises from the plain-dict mapping.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def read_fhir_file(path: Path, ctx: Context, advance: Progress | None = None) -> None:
    """Read one ``.json``/``.ndjson`` file (optionally ``.gz``) into ``ctx.batch``."""
    if path.name.lower().endswith(NDJSON_SUFFIXES):
        _read_ndjson(path, ctx, advance)
    else:
        _read_json(path, ctx, advance)


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(raw file, stream to read): the stream decompresses a ``.gz`` file as it goes, and
    the raw file's position measures progress in the bytes on disk."""
    raw = open(path, "rb")  # noqa: SIM115 - the caller closes it
    if path.name.lower().endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def _one(res: object, loc: int, ctx: Context, full_url: str | None = None) -> None:
    if not isinstance(res, dict):
        problem = Reject(INVALID_VALUE, f"expected a JSON object, got {type(res).__name__}")
        ctx.batch.error(loc, problem, None, None)
        return
    rtype = res.get("resourceType")
    try:
        if ctx.strict and rtype in HANDLERS:
            found = structural_problems(res)
            if found:
                raise Reject(INVALID_RESOURCE, f"not a valid R4 {rtype}: {found}")
        extract(res, loc, ctx, full_url)
    except Reject as problem:
        if problem.code != INVALID_RESOURCE and rtype in HANDLERS:
            found = structural_problems(res)  # only on rejection: it costs ~10x the mapping
            if found:
                problem = Reject(problem.code, f"{problem.reason} (R4 structure: {found})")
        ctx.batch.error(loc, problem, _str(rtype), _str(res.get("id")))
    except _SHAPE_ERRORS as exc:
        found = structural_problems(res) or f"an element has an unexpected shape ({exc})"
        problem = Reject(INVALID_RESOURCE, f"not a valid R4 {rtype}: {found}")
        ctx.batch.error(loc, problem, _str(rtype), _str(res.get("id")))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _export_file_reason(first: object, name: str = "") -> str | None:
    """Why an NDJSON file (called ``name``) whose first object is ``first`` is a bulk
    export's own file: a log (log-item keys, or the name ``log.ndjson`` and no
    ``resourceType``), or an error file (an OperationOutcome)."""
    if not isinstance(first, dict):
        return None
    rtype = first.get("resourceType")
    if rtype == "OperationOutcome":
        return EXPORT_ERRORS
    if rtype is None and (_LOG_KEYS & first.keys() or name.lower() in _LOG_NAMES):
        return EXPORT_LOG
    return None


def _first_object(stream: BinaryIO) -> object:
    for line in stream:
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
    return None


def _read_ndjson(path: Path, ctx: Context, advance: Progress | None) -> None:
    batch = ctx.batch
    try:
        raw, stream = _open(path)
    except OSError as exc:
        file_no = batch.add_file(path, NDJSON)
        batch.file_error(file_no, Reject(UNREADABLE_FILE, str(exc)), "file")
        return
    with raw:
        try:
            reason = _export_file_reason(_first_object(stream), path.name)
            stream.seek(0)
        except (OSError, EOFError, zlib.error) as exc:
            reason = None
            bad = exc
        else:
            bad = None
        if reason is not None:
            batch.skipped_files.append({"file": str(path), "reason": reason})
            if advance is not None:
                advance(_size(path))
            return
        file_no = batch.add_file(path, NDJSON)
        if bad is not None:
            batch.file_error(file_no, Reject(UNREADABLE_FILE, f"{path.name}: {bad}"), "file")
            return
        done = _ndjson_lines(stream, raw, file_no, ctx, advance)
    batch.files[file_no].resources = done


def _ndjson_lines(
    stream: BinaryIO,
    raw: BinaryIO,
    file_no: int,
    ctx: Context,
    advance: Progress | None,
    first_line: int = 1,
) -> int:
    """Read NDJSON lines; ``first_line`` numbers the first (ingest reads a large file as
    spans of lines in parallel, ``ingest_stage``)."""
    batch = ctx.batch
    base = file_no << 32
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    done = reported = 0
    lineno = first_line - 1
    try:
        for lineno, line in enumerate(stream, first_line):
            if len(line) < 3 and not line.strip():
                continue
            loc = base | lineno
            try:
                res = loads(line)
            except decode_error as exc:
                where = f"line {lineno}, column {exc.colno}"
                batch.error(
                    loc, Reject(MALFORMED_JSON, f"{where}: {exc.msg}"), None, None, position=where
                )
                continue
            done += 1
            if type(res) is dict and res.get("resourceType") == "Bundle":
                for entry in _entries(res, ctx):
                    _entry(entry, loc, ctx)
            else:
                _one(res, loc, ctx)
            if advance is not None and done % _PROGRESS_EVERY == 0:
                position = raw.tell()
                advance(position - reported)
                reported = position
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
        problem = Reject(UNREADABLE_FILE, f"cannot decompress after line {lineno}: {exc}")
        batch.file_error(file_no, problem, f"line {lineno + 1}")
    if advance is not None:
        advance(_size(Path(raw.name)) - reported)
    return done


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_json(path: Path, ctx: Context, advance: Progress | None) -> None:
    batch = ctx.batch
    try:
        raw, stream = _open(path)
        with raw:
            data = stream.read()
    except (OSError, EOFError, zlib.error) as exc:
        file_no = batch.add_file(path, RESOURCE)
        batch.file_error(file_no, Reject(UNREADABLE_FILE, f"{path.name}: {exc}"), "file")
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        file_no = batch.add_file(path, RESOURCE)
        where = f"line {exc.lineno}, column {exc.colno}"
        batch.file_error(file_no, Reject(MALFORMED_JSON, f"{where}: {exc.msg}"), where)
        return
    reason = _json_file_reason(doc)
    if reason is not None:
        batch.skipped_files.append({"file": str(path), "reason": reason})
    elif isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        file_no = batch.add_file(path, BUNDLE)
        base = file_no << 32
        entries = _entries(doc, ctx)
        for i, entry in enumerate(entries):
            _entry(entry, base | i, ctx)
        batch.files[file_no].resources = len(entries)
    else:
        file_no = batch.add_file(path, RESOURCE)
        _one(doc, file_no << 32, ctx)
        batch.files[file_no].resources = 1
    if advance is not None:
        advance(_size(path))


def _json_file_reason(doc: object) -> str | None:
    """Why a JSON file is a bulk export's own: its manifest, or an OperationOutcome."""
    if not isinstance(doc, dict):
        return None
    rtype = doc.get("resourceType")
    if rtype is None and "transactionTime" in doc and "output" in doc:
        return EXPORT_MANIFEST
    if rtype == "OperationOutcome":
        return EXPORT_ERRORS
    return None


def _entry(entry: object, loc: int, ctx: Context) -> None:
    """One Bundle entry: a resource to load, a DELETE to record, or nothing to do."""
    if not isinstance(entry, dict):
        _one(entry, loc, ctx)
        return
    request = entry.get("request")
    if isinstance(request, dict) and request.get("method") == "DELETE":
        try:
            _delete(request.get("url"), loc, ctx)
        except Reject as problem:
            ctx.batch.error(loc, problem, "Bundle", None)
        return
    res = entry.get("resource")
    if res is None:  # e.g. a GET in a batch, a history entry without the resource
        ctx.batch.skipped["Bundle entry without a resource"] += 1
        return
    _one(res, loc, ctx, entry.get("fullUrl"))


def _delete(url: object, loc: int, ctx: Context) -> None:
    """Record ``DELETE <Type>/<id>`` in ``batch.deletions`` (an absolute URL ending in
    ``<Type>/<id>`` also works). Conditional deletes (``<Type>?identifier=...``) are refused:
    a delete must name the one resource it removes."""
    if not isinstance(url, str) or not url:
        raise Reject(INVALID_REFERENCE, "a DELETE entry needs request.url <Type>/<id>")
    if "?" in url:
        raise Reject(
            INVALID_REFERENCE,
            f"DELETE {url}: conditional deletes are not supported; name the resource as "
            "<Type>/<id>",
        )
    parts = url.rstrip("/").split("/")
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise Reject(INVALID_REFERENCE, f"DELETE {url}: request.url is not <Type>/<id>")
    rtype, rid = parts[-2], parts[-1]
    tables = m.DELETE_TABLES.get(rtype)
    if tables is None:
        ctx.batch.skipped[f"DELETE of a {rtype} (type not loaded)"] += 1
        return
    for table in tables:
        ctx.batch.deletions.append((table, rid, loc))


def _entries(bundle: dict, ctx: Context) -> list[dict]:
    """The Bundle's entries, after registering their fullUrls so that ``urn:uuid``
    references anywhere in the batch can be resolved (Synthea references by fullUrl)."""
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        entries = [entries]
    full_urls = ctx.batch.full_urls
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        res = entry.get("resource")
        url = entry.get("fullUrl")
        if url and isinstance(url, str) and isinstance(res, dict):
            rid = res.get("id") or (url[9:] if url.startswith("urn:uuid:") else None)
            full_urls[url] = (res.get("resourceType"), rid)
    return entries
