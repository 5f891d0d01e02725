"""Write a synthetic population as FHIR R4: bulk-export NDJSON, a sample of transaction
Bundles, and ``areas.csv`` (docs/fhir-mapping.md is the contract).

The population arrives as chunks of warehouse tables and leaves chunk by chunk, each table
converted in slices, so memory is bounded by the producer's chunk (Arrow) plus one slice of
Python objects, whatever the population. Each slice is converted with one bulk ``to_pylist``
per column and one orjson call per resource; nothing touches Arrow row by row.
"""

from __future__ import annotations

import csv
import functools
import gc
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from wraparound.sources.fhir import write_events as events
from wraparound.sources.fhir import write_people as people
from wraparound.sources.fhir.mapping import SUPPORTED_RESOURCES
from wraparound.sources.fhir.write_bundles import BundleSample
from wraparound.sources.fhir.write_common import References, check_ids, column
from wraparound.sources.synthetic.population import PopulationChunk

# Tables in the order they are written: what is referred to before what refers to it. The
# patients table has its own builder call (it also needs the identities and registrations).
_BUILDERS: dict[str, Callable[[pa.Table, References], list[people.Built]] | None] = {
    "organisations": people.organisations,
    "practitioners": people.practitioners,
    "practitioner_roles": people.practitioner_roles,
    "patients": None,
    "registrations": people.registrations,
    "conditions": events.conditions,
    "observations": events.observations,
    "medications": events.medications,
    "procedures": events.procedures,
    "encounters": events.encounters,
    "letters": events.letters,
    "allergies": events.allergies,
}
_NOT_FHIR = {"areas"}  # written to areas.csv instead

# Rows converted at a time, and resources serialised per write. Both keep the Python objects
# alive at once few, whatever the producer's chunk size: allocating hundreds of megabytes of
# dicts and bytes at once costs more in page faults than the conversion itself.
_TABLE_SLICE = 32_768
_WRITE_BATCH = 4_096
_NEWLINE = orjson.OPT_APPEND_NEWLINE


class _Ndjson:
    """One ``<Type>.ndjson`` per resource type, opened on first use and counted."""

    def __init__(self, out: Path, stack: ExitStack) -> None:
        self.out = out
        self.stack = stack
        self.files: dict[str, BinaryIO] = {}
        self.counts: dict[str, int] = {}

    def write(self, built: people.Built) -> None:
        if not built.resources:
            return
        name = built.resource_type
        if name not in self.files:
            self.files[name] = self.stack.enter_context((self.out / f"{name}.ndjson").open("wb"))
            self.counts[name] = 0
        file, resources, dumps, newline = self.files[name], built.resources, orjson.dumps, _NEWLINE
        for i in range(0, len(resources), _WRITE_BATCH):
            file.write(
                b"".join([dumps(r, option=newline) for r in resources[i : i + _WRITE_BATCH]])
            )
        self.counts[name] += len(resources)


def write_fhir(
    chunks: Iterable[PopulationChunk], out: Path, *, progress: bool = True, bundle_sample: int = 20
) -> dict:
    """Stream ``chunks`` to ``out`` as FHIR R4 NDJSON, ``bundles/`` and ``areas.csv``.

    Files from an earlier run in ``out`` that this run would write are removed first, so a
    resource type that is absent now does not linger. Returns
    ``{"resources": {type: count}, "files": [path, ...]}`` (paths sorted, as strings).
    Raises ValueError on rows the contract cannot express rather than writing them lossily
    (unknown ODS code or code system, unmapped status or kind, invalid FHIR id; the list is in
    docs/fhir-mapping.md); files written before the error are left incomplete.
    """
    out = Path(out)
    _clear(out)
    refs = References()
    sample = BundleSample(bundle_sample)
    with ExitStack() as stack:
        ndjson = _Ndjson(out, stack)
        areas_file = stack.enter_context((out / "areas.csv").open("w", newline=""))
        areas = csv.writer(areas_file, lineterminator="\n")
        areas.writerow(["lsoa", "imd_decile"])
        bar = stack.enter_context(_progress(progress))
        task = bar.add_task("FHIR", total=None, resources=0, patients=0) if bar else None
        patients = 0
        for chunk in chunks:
            if "areas" in chunk.tables:
                table = chunk.tables["areas"]
                areas.writerows(
                    zip(column(table, "lsoa"), column(table, "imd_decile"), strict=True)
                )
            with _gc_paused():
                for built in _chunk_resources(chunk, refs):
                    ndjson.write(built)
                    sample.add(built)
            sample.close_if_full()
            patients += chunk.tables["patients"].num_rows if "patients" in chunk.tables else 0
            if bar:
                bar.update(task, resources=sum(ndjson.counts.values()), patients=patients)
    files = [out / f"{name}.ndjson" for name in ndjson.counts]
    files += [out / "areas.csv", *sample.write(out / "bundles")]
    return {"resources": dict(sorted(ndjson.counts.items())), "files": sorted(map(str, files))}


def _chunk_resources(chunk: PopulationChunk, refs: References) -> Iterable[people.Built]:
    """Every resource of one chunk, table by table in ``_BUILDERS`` order."""
    tables = chunk.tables
    unknown = set(tables) - set(_BUILDERS) - _NOT_FHIR
    if unknown:
        raise ValueError(f"no FHIR mapping for tables {sorted(unknown)}")
    for name, table in tables.items():
        if name not in _NOT_FHIR:
            check_ids(name, table)
    patients = tables.get("patients")
    if patients is None:
        refs.set_patients([], [])
    else:
        refs.set_patients(column(patients, "patient_id"), column(patients, "id"))
    for name, build in _BUILDERS.items():
        if name not in tables:
            continue
        table = tables[name]
        if build is None:
            identities = chunk.identities
            nhs = dict(zip(column(identities, "id"), column(identities, "nhs_number"), strict=True))
            names = None
            if "given_name" in identities.column_names:
                names = dict(
                    zip(
                        column(identities, "id"),
                        zip(
                            column(identities, "given_name"),
                            column(identities, "family_name"),
                            strict=True,
                        ),
                        strict=True,
                    )
                )
            telecoms = None
            if "phone" in identities.column_names:
                telecoms = dict(
                    zip(
                        column(identities, "id"),
                        zip(
                            column(identities, "phone"),
                            column(identities, "email"),
                            strict=True,
                        ),
                        strict=True,
                    )
                )
            build = functools.partial(
                people.patients,
                nhs_numbers=nhs,
                names=names,
                telecoms=telecoms,
                practices=people.open_practices(tables.get("registrations")),
            )
        if name == "organisations":  # partOf may point forward: convert the table whole
            yield from build(table, refs)
            continue
        for offset in range(0, table.num_rows, _TABLE_SLICE):
            yield from build(table.slice(offset, _TABLE_SLICE), refs)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while one chunk is converted.

    Building a chunk allocates hundreds of thousands of dicts, which keeps triggering
    collections that scan every live object (the caller's included) and find nothing: the
    builders make no reference cycles. Pausing per chunk, not for the whole run, halves the
    writer's time yet lets the producer's own garbage be collected between chunks.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _clear(out: Path) -> None:
    """Remove what an earlier run wrote here (only files this writer would write)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in SUPPORTED_RESOURCES:
        (out / f"{name}.ndjson").unlink(missing_ok=True)
    if (out / "bundles").is_dir():
        shutil.rmtree(out / "bundles")


def _progress(enabled: bool):
    """A Rich progress display of resources and patients written, or nothing."""
    if not enabled:
        return nullcontext(None)
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[patients]:,} patients, {task.fields[resources]:,} resources"),
        TimeElapsedColumn(),
        transient=False,
    )
