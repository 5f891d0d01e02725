"""The synthetic locality generator: ``generate()`` yields the population chunk by chunk.

Deterministic for a seed: the organisation structure, NHS numbers and each chunk draw from
their own seeded streams, and the chunk size is a fixed parameter, so the same seed gives
the same locality whatever else runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from wraparound import clinical
from wraparound.interventions import Intervention
from wraparound.nhs_number import synthetic_numbers
from wraparound.sources.synthetic import events
from wraparound.sources.synthetic.allergies import allergies as synthetic_allergies
from wraparound.sources.synthetic.clock import US_PER_DAY, day_number
from wraparound.sources.synthetic.contacts import draw_contacts
from wraparound.sources.synthetic.letters import letters as synthetic_letters
from wraparound.sources.synthetic.names import draw_names
from wraparound.sources.synthetic.organisations import Locality, build_locality
from wraparound.sources.synthetic.params import parameters
from wraparound.sources.synthetic.people import (
    Frame,
    calibrate,
    draw_ages,
    draw_conditions,
    draw_frailty,
    draw_medicines,
    new_people,
    simulate_years,
)
from wraparound.sources.synthetic.population import PopulationChunk
from wraparound.warehouse.pseudonym import Pseudonymiser
from wraparound.warehouse.schema import TS

EXTRA_STREAM = 300
"""Seed offset of each chunk's stream for draws added later (``Chunk.extra_rng``); chunks draw
from ``[seed, 100, ci]``, names from ``[seed, 200, ci]``."""

SOCIAL_STREAM = 400
"""Seed offset of each chunk's stream for social-care contacts (``Chunk.social_rng``)."""

INTERVENTION_STREAM = 500
LETTERS_STREAM = 600  # letters back to the GP (synthetic/letters.py), their own draws
ALLERGY_STREAM = 700  # allergies (synthetic/allergies.py), their own draws
"""Seed offset of each chunk's stream for a simulated intervention (``events.Simulation``):
without one, no draw is taken from it and every row is as before."""

PATHWAY_STREAM = 800
"""Seed offset of each chunk's stream for outpatient pathways (``Chunk.pathway_rng``,
``events._pathways``): which appointments start one, and the follow-ups after each first."""


def frame_for(years: int, end_date: dt.date | None = None) -> Frame:
    end = end_date or dt.date.fromisoformat(parameters()["end_date"])
    return Frame(day_number(end) + 1, years)


def chunk_count(patients: int) -> int:
    size = parameters()["chunk_size"]
    return (patients + size - 1) // size


def generate(
    patients: int,
    seed: int,
    years: int = 3,
    end_date: dt.date | None = None,
    intervention: Intervention | None = None,
) -> Iterator[PopulationChunk]:
    frame = frame_for(years, end_date)
    calibration = calibrate(frame.end, years)
    locality = build_locality(patients, seed)
    if intervention is not None and intervention.simulated_change is None:
        raise ValueError(f"{intervention.source}: no [simulation] admission_hazard_change")
    nhs_numbers = synthetic_numbers(patients, np.random.default_rng([seed, 2]))
    pseudonymiser = Pseudonymiser()
    extract_us = frame.end * US_PER_DAY
    size = parameters()["chunk_size"]
    for ci in range(chunk_count(patients)):
        lo, hi = ci * size, min(patients, (ci + 1) * size)
        rng = np.random.default_rng([seed, 100, ci])
        chunk, identities = _people_chunk(
            locality, frame, calibration, rng, seed, ci, lo, hi, nhs_numbers[lo:hi], pseudonymiser
        )
        if intervention is not None:
            chunk.simulation = events.Simulation.of(
                intervention, chunk, np.random.default_rng([seed, INTERVENTION_STREAM, ci])
            )
        tables = {"registrations": events.registrations(chunk)}
        tables["patients"] = events.patients(
            chunk,
            identities["patient_ids"],
            identities["lsoa"],
            identities["ethnicity"],
            identities["opted_out"],
        )
        tables["conditions"] = events.conditions(chunk)
        tables["medications"] = events.medications(chunk)
        tables["observations"] = events.observations(chunk)
        tables["encounters"] = events.encounters(chunk, calibration)
        tables["letters"] = synthetic_letters(
            tables["encounters"], np.random.default_rng([seed, LETTERS_STREAM, ci]), extract_us
        )
        tables["allergies"] = synthetic_allergies(
            chunk, np.random.default_rng([seed, ALLERGY_STREAM, ci])
        )
        if ci == 0:
            tables.update(locality.tables)
        # Reference data (LSOA deprivation) carries no source version.
        tables = {
            name: _bookkeeping(t, None if name == "areas" else extract_us)
            for name, t in tables.items()
        }
        yield PopulationChunk(
            tables=tables,
            identities=pa.table(
                {
                    "id": identities["patient_ids"],
                    "nhs_number": nhs_numbers[lo:hi],
                    "patient_id": chunk.pseudonyms,
                    "given_name": identities["given_name"],
                    "family_name": identities["family_name"],
                    "phone": pa.array(identities["phone"], pa.string()),
                    "email": pa.array(identities["email"], pa.string()),
                }
            ),
            oracle=_oracle(chunk),
            intervention=None if chunk.simulation is None else chunk.simulation.oracle(chunk),
        )


def _people_chunk(
    locality: Locality,
    frame: Frame,
    calibration,
    rng,
    seed: int,
    ci: int,
    lo: int,
    hi: int,
    nhs_numbers: np.ndarray,
    pseudonymiser: Pseudonymiser,
):
    pop = parameters()["population"]
    n = hi - lo
    practice = locality.practice_of(np.arange(lo, hi))
    # Small areas within each practice's catchment, and deprivation from them.
    counts = np.bincount(locality.lsoa_practice, minlength=locality.practice_codes.size)
    offsets = np.concatenate([[0], np.cumsum(counts)])[:-1]
    lsoa_i = offsets[practice] + (rng.uniform(0, 1, n) * counts[practice]).astype(np.int64)
    decile = locality.lsoa_imd[lsoa_i]
    shift = pop["age_shift_per_decile"] * (locality.practice_imd[practice] - 5.5)
    age, female = draw_ages(n, rng, shift)
    people = new_people(age, female, decile, frame, rng)
    draw_conditions(people, frame, rng, calibration.intercepts, calibration.expected)
    draw_frailty(people, frame, rng)
    draw_medicines(people, frame, rng)
    years = simulate_years(people, frame, rng, calibration.admission_curve)
    ethnic = clinical.ethnicities()
    shares = np.array([e.england_share_pct for e in ethnic], dtype=float)
    ethnicity = np.array([e.code for e in ethnic])[
        rng.choice(shares.size, n, p=shares / shares.sum())
    ]
    patient_ids = np.array([f"s{seed}-p{i:07d}" for i in range(lo, hi)])
    pseudonyms = pa.array([pseudonymiser.nhs_number(x) for x in nhs_numbers.tolist()])
    chunk = events.Chunk(
        index=ci,
        prefix=f"s{seed}-{ci:03d}",
        people=people,
        years=years,
        frame=frame,
        locality=locality,
        practice=practice,
        pseudonyms=pseudonyms,
        rng=rng,
        extra_rng=np.random.default_rng([seed, EXTRA_STREAM, ci]),
        social_rng=np.random.default_rng([seed, SOCIAL_STREAM, ci]),
        pathway_rng=np.random.default_rng([seed, PATHWAY_STREAM, ci]),
    )
    given, family = draw_names(female, np.random.default_rng([seed, 200, ci]))
    phone, email = draw_contacts(given, family, age, np.random.default_rng([seed, 201, ci]))
    identities = {
        "patient_ids": patient_ids,
        "given_name": given,
        "family_name": family,
        "phone": phone,
        "email": email,
        "lsoa": locality.lsoa_codes[lsoa_i],
        "ethnicity": ethnicity,
        "opted_out": rng.uniform(0, 1, n) < pop["opt_out_share"],
    }
    return chunk, identities


def _bookkeeping(table: pa.Table, extract_us: int | None) -> pa.Table:
    n = table.num_rows
    updated = pa.nulls(n, TS) if extract_us is None else pa.array(np.full(n, extract_us), TS)
    return (
        table.append_column("updated_at", updated)
        .append_column("version_id", pa.nulls(n, pa.int64()))
        .append_column("batch", pa.array(np.ones(n, dtype=np.int64)))
    )


def _oracle(chunk: events.Chunk) -> pa.Table:
    """True 12-month emergency admission risk at each year boundary from the end of the
    first year (the earliest index date with a year of history) to the end date."""
    parts = []
    for y in chunk.years[2:]:
        alive = np.flatnonzero(y.alive)
        parts.append(
            pa.table(
                {
                    "patient_id": chunk.pseudonyms.take(pa.array(alive)),
                    "index_date": pa.array(np.full(alive.size, y.day, dtype=np.int32), pa.date32()),
                    "true_risk": pa.array(y.true_risk[alive]),
                    "expected_admissions": pa.array(y.lam[alive]),
                }
            )
        )
    return pa.concat_tables(parts)
