"""``wraparound synth``: write a synthetic locality as a warehouse or as FHIR R4 files, with
the oracle of true risks in its own file beside it (``DIR/oracle/true_risk.parquet``).

Who each patient is (NHS number, name) goes where a real source puts it: into the
warehouse's direct-care ``identity`` table for a warehouse, into the Patient resources for
FHIR. There is no side file of identities: a warehouse loaded by ``ingest`` and one written
here hold the same thing, and the app reads only the ``identity`` table.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wraparound.interventions import Intervention
from wraparound.sources.synthetic.generator import chunk_count, generate
from wraparound.sources.synthetic.population import PopulationChunk
from wraparound.warehouse import paths
from wraparound.warehouse.schema import TABLES, conform
from wraparound.warehouse.store import Warehouse


class OutputExistsError(FileExistsError):
    pass


def oracle_path(out: Path) -> Path:
    """Where the true risks of a synthetic locality are; evaluation code reads them, no
    analytics code does."""
    return paths.oracle(out)


def _contact(ids: pa.Table, name: str, n: int) -> pa.Array:
    """A contact column of the chunk's identities (null for a chunk made without them)."""
    if name in ids.column_names:
        return ids.column(name).combine_chunks().cast(pa.string())
    return pa.nulls(n, pa.string())


def identity_table(chunk: PopulationChunk) -> pa.Table:
    """The chunk's rows of the direct-care ``identity`` table, exactly as ingest builds them
    from the FHIR Patients that ``synth --format fhir`` writes for the same chunk (the
    round-trip test holds the two equal): the NHS number and name from the chunk's
    identities, date of birth, sex, opt-out and version from its ``patients`` rows, and the
    practice of the open registration, and the mobile and email the generator drew
    (``contacts.py``). The generator draws no postcode or verification status, so those are
    null."""
    from wraparound.sources.fhir.write_people import open_practices

    patients = chunk.tables["patients"]
    ids = chunk.identities
    by_id = {i: n for n, i in enumerate(ids.column("id").to_pylist())}
    order = pa.array([by_id[i] for i in patients.column("id").to_pylist()], pa.int64())
    ids = ids.take(order)
    practices = open_practices(chunk.tables.get("registrations"))
    n = patients.num_rows
    columns = {
        "id": patients.column("id"),
        "patient_id": patients.column("patient_id"),
        "nhs_number": ids.column("nhs_number"),
        "nhs_number_verification": pa.nulls(n, pa.string()),
        "given_name": ids.column("given_name"),
        "family_name": ids.column("family_name"),
        "birth_date": patients.column("birth_date"),
        "sex": patients.column("sex"),
        "postcode": pa.nulls(n, pa.string()),
        "phone": _contact(ids, "phone", n),
        "email": _contact(ids, "email", n),
        "practice_id": pa.array(
            [practices.get(p) for p in patients.column("patient_id").to_pylist()], pa.string()
        ),
        "opted_out": patients.column("opted_out"),
        "updated_at": patients.column("updated_at"),
        "version_id": patients.column("version_id"),
        "batch": patients.column("batch"),
    }
    return conform("identity", pa.table(columns, schema=TABLES["identity"]))


def write_synthetic(
    out: Path,
    *,
    patients: int,
    seed: int,
    years: int = 3,
    fmt: str = "warehouse",
    overwrite: bool = False,
    progress: bool = True,
    intervention: Intervention | None = None,
) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out} exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    paths.oracle(out).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with _progress(progress) as bar:
        task = bar.add_task("synthesising", total=chunk_count(patients))
        chunks = _tee_oracle(
            generate(patients, seed, years, intervention=intervention),
            out,
            rows,
            lambda: bar.advance(task),
        )
        if fmt == "warehouse":
            wh = Warehouse(out)
            with wh.transaction({"source": "synthetic", "patients": patients, "seed": seed}) as tx:
                for chunk in chunks:
                    for name, table in chunk.tables.items():
                        tx.append(name, table)
                    tx.append("identity", identity_table(chunk))
        elif fmt == "fhir":
            from wraparound.sources.fhir.write import write_fhir

            write_fhir(chunks, out, progress=False)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    simulated = None
    if intervention is not None:
        simulated = {
            "intervention_id": intervention.id,
            "version": intervention.version,
            "admission_hazard_change": intervention.simulated_change,
            "cohort_date": intervention.cohort_date.isoformat(),
            "prevented_admissions": rows.pop("prevented_admissions", 0),
        }
        paths.oracle_intervention_summary(out).write_text(json.dumps(simulated, indent=2))
    return {
        "out": str(out),
        "format": fmt,
        "patients": patients,
        "seed": seed,
        "years": years,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        **({"intervention": simulated} if simulated else {}),
    }


def _tee_oracle(
    chunks: Iterator[PopulationChunk], out: Path, rows: dict, tick
) -> Iterator[PopulationChunk]:
    """Pass chunks through, writing the oracle file on the way."""
    writer: pq.ParquetWriter | None = None
    prevented: pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            if chunk.intervention is not None:
                if prevented is None:
                    prevented = pq.ParquetWriter(
                        paths.oracle_intervention(out), chunk.intervention.schema
                    )
                prevented.write_table(chunk.intervention)
                rows["prevented_admissions"] = (
                    rows.get("prevented_admissions", 0) + chunk.intervention.num_rows
                )
            if writer is None:
                writer = pq.ParquetWriter(
                    paths.oracle(out), chunk.oracle.schema, compression="zstd"
                )
            writer.write_table(chunk.oracle)
            for name, table in chunk.tables.items():
                rows[name] = rows.get(name, 0) + table.num_rows
            rows["identity"] = rows.get("identity", 0) + chunk.identities.num_rows
            yield chunk
            tick()
    finally:
        if writer is not None:
            writer.close()
        if prevented is not None:
            prevented.close()


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
