"""Reading FHIR R4 files: JSON (a Bundle of any type, or one resource) and bulk-export NDJSON.

This module knows files and positions; ``extract`` knows resources. Positions are what a
person needs to find the problem: the line of an NDJSON file, the entry of a Bundle
(``entry[3]``), the line and column of malformed JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from wraparound.sources.fhir.extract import Context, extract
from wraparound.sources.ingest_batch import BUNDLE, NDJSON, RESOURCE
from wraparound.sources.ingest_values import (
    INVALID_VALUE,
    MALFORMED_JSON,
    UNREADABLE_FILE,
    Reject,
)

Progress = Callable[[int], None]
# How many NDJSON lines between progress updates: often enough to look alive, rarely
# enough to cost nothing.
_PROGRESS_EVERY = 20_000


def read_fhir_file(path: Path, ctx: Context, advance: Progress | None = None) -> None:
    """Read one ``.json`` or ``.ndjson`` file into ``ctx.batch``."""
    if path.suffix.lower() == ".ndjson":
        _read_ndjson(path, ctx, advance)
    else:
        _read_json(path, ctx, advance)


def _one(res: object, loc: int, ctx: Context, full_url: str | None = None) -> None:
    if not isinstance(res, dict):
        problem = Reject(INVALID_VALUE, f"expected a JSON object, got {type(res).__name__}")
        ctx.batch.error(loc, problem, None, None)
        return
    try:
        extract(res, loc, ctx, full_url)
    except Reject as problem:
        ctx.batch.error(loc, problem, res.get("resourceType"), res.get("id"))


def _read_ndjson(path: Path, ctx: Context, advance: Progress | None) -> None:
    batch = ctx.batch
    file_no = batch.add_file(path, NDJSON)
    base = file_no << 32
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    done = pending = 0
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; the loop is the hot path
    except OSError as exc:
        batch.file_error(file_no, Reject(UNREADABLE_FILE, str(exc)), "file")
        return
    with fh:
        for lineno, line in enumerate(fh, 1):
            pending += len(line)
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
                    if isinstance(entry, dict) and entry.get("resource") is not None:
                        _one(entry["resource"], loc, ctx, entry.get("fullUrl"))
            else:
                _one(res, loc, ctx)
            if advance is not None and done % _PROGRESS_EVERY == 0:
                advance(pending)
                pending = 0
    batch.files[file_no].resources = done
    if advance is not None:
        advance(pending)


def _read_json(path: Path, ctx: Context, advance: Progress | None) -> None:
    batch = ctx.batch
    try:
        data = path.read_bytes()
    except OSError as exc:
        file_no = batch.add_file(path, RESOURCE)
        batch.file_error(file_no, Reject(UNREADABLE_FILE, str(exc)), "file")
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        file_no = batch.add_file(path, RESOURCE)
        where = f"line {exc.lineno}, column {exc.colno}"
        batch.file_error(file_no, Reject(MALFORMED_JSON, f"{where}: {exc.msg}"), where)
        return
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        file_no = batch.add_file(path, BUNDLE)
        base = file_no << 32
        entries = _entries(doc, ctx)
        for i, entry in enumerate(entries):
            res = entry.get("resource") if isinstance(entry, dict) else entry
            if res is None:  # e.g. a DELETE in a transaction: nothing to load
                batch.skipped["Bundle entry without a resource"] += 1
                continue
            url = entry.get("fullUrl") if isinstance(entry, dict) else None
            _one(res, base | i, ctx, url)
        batch.files[file_no].resources = len(entries)
    else:
        file_no = batch.add_file(path, RESOURCE)
        _one(doc, file_no << 32, ctx)
        batch.files[file_no].resources = 1
    if advance is not None:
        advance(len(data))


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
        if url and isinstance(res, dict):
            rid = res.get("id") or (url[9:] if url.startswith("urn:uuid:") else None)
            full_urls[url] = (res.get("resourceType"), rid)
    return entries
